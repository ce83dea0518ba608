import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { TenantCatalog, type TenantRecord } from '../src/catalog/index.ts'
import { openCatalog, expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'



/** The pool, counting every query and connection it is asked for. */
function countingPool(pool: pg.Pool): { pool: pg.Pool; calls: () => number } {
  let calls = 0
  const counted = new Proxy(pool, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (property === 'query' || property === 'connect') calls++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { pool: counted, calls: () => calls }
}


for (const backend of testBackends()) {
  describe(`tenant catalog API keys on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    let acme: TenantRecord
    let globex: TenantRecord
    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
      acme = await catalog.create({ slug: slugFor('acme'), name: 'Acme' })
      globex = await catalog.create({ slug: slugFor('globex'), name: 'Globex' })
    })
    after(async () => {
      await db.close()
    })

    it('creates a key of the form tnt_<8 chars>_<secret>, storing only its prefix and SHA-256', async () => {
      const { id, key } = await catalog.createApiKey(acme.id, { name: 'CI deploys' })
      const match = /^tnt_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/.exec(key)
      assert.ok(match, key)
      const row = (await db.pool.query('select * from tenantry.api_keys where id = $1', [id])).rows[0] as Record<string, unknown>
      assert.equal(row.prefix, match[1])
      assert.equal(row.hash, createHash('sha256').update(key).digest('hex'))
      assert.equal(row.name, 'CI deploys')
      assert.ok(!JSON.stringify(row).includes(match[2] ?? '?'), 'the secret part is not stored')
    })

    it('verifies a key to its tenant and records when it was last used', async () => {
      const { id, key } = await catalog.createApiKey(acme.id)
      assert.deepEqual(await catalog.verifyApiKey(key), { keyId: id, tenantId: acme.id })
      const info = (await catalog.listApiKeys(acme.id)).find((k) => k.id === id)
      assert.ok(info?.lastUsedAt instanceof Date)
    })

    it('does not verify a wrong secret behind a real prefix', async () => {
      const { key } = await catalog.createApiKey(acme.id)
      const last = key.at(-1) === 'A' ? 'B' : 'A'
      assert.equal(await catalog.verifyApiKey(key.slice(0, -1) + last), undefined)
      assert.equal(await catalog.verifyApiKey(`${key}x`), undefined)
    })

    it('does not verify a well-formed key that was never issued', async () => {
      assert.equal(await catalog.verifyApiKey(`tnt_abcdefgh_${randomBytes(32).toString('base64url')}`), undefined)
    })

    it('returns undefined for malformed keys without querying the database', async () => {
      const counted = countingPool(db.pool)
      const watched = new TenantCatalog({ pool: counted.pool })
      const { key } = await catalog.createApiKey(acme.id)
      for (const bad of ['', 'tnt_', key.replace('tnt_', 'tok_'), key.toUpperCase(), `${key.slice(0, 12)}`, `Bearer ${key}`, 'x'.repeat(10_000), 42, null, undefined]) {
        assert.equal(await watched.verifyApiKey(bad as string), undefined, String(bad))
      }
      assert.equal(counted.calls(), 0)
      assert.deepEqual(await watched.verifyApiKey(key), { keyId: (await catalog.listApiKeys(acme.id)).at(-1)?.id, tenantId: acme.id })
      assert.ok(counted.calls() > 0)
    })

    it("never verifies tenant A's key as tenant B's", async () => {
      const a = await catalog.createApiKey(acme.id)
      const b = await catalog.createApiKey(globex.id)
      assert.equal((await catalog.verifyApiKey(a.key))?.tenantId, acme.id)
      assert.equal((await catalog.verifyApiKey(b.key))?.tenantId, globex.id)
      // B's prefix with A's secret (and the reverse) is neither key.
      const [, prefixA, secretA] = /^tnt_([a-z0-9]{8})_(.+)$/.exec(a.key) ?? []
      const [, prefixB, secretB] = /^tnt_([a-z0-9]{8})_(.+)$/.exec(b.key) ?? []
      assert.equal(await catalog.verifyApiKey(`tnt_${prefixB}_${secretA}`), undefined)
      assert.equal(await catalog.verifyApiKey(`tnt_${prefixA}_${secretB}`), undefined)
    })

    it('stops verifying a revoked key, and revoking twice changes nothing', async () => {
      const { id, key } = await catalog.createApiKey(acme.id)
      const revoked = await catalog.revokeApiKey(id, { reason: 'leaked' })
      assert.ok(revoked.revokedAt instanceof Date)
      assert.equal(await catalog.verifyApiKey(key), undefined)
      const again = await catalog.revokeApiKey(id)
      assert.equal(again.revokedAt?.getTime(), revoked.revokedAt.getTime())
      assert.equal((await catalog.listAudit({ tenantId: acme.id, action: 'api_key.revoked' })).filter((e) => (e.details as { keyId: string }).keyId === id).length, 1)
    })

    it('lists a tenant’s keys, revoked ones included, without hashes or secrets', async () => {
      const tenant = await catalog.create({ slug: slugFor('keys'), name: 'Keys' })
      const first = await catalog.createApiKey(tenant.id, { name: 'first' })
      const second = await catalog.createApiKey(tenant.id)
      await catalog.revokeApiKey(first.id)
      const keys = await catalog.listApiKeys(tenant.id)
      assert.deepEqual(keys.map((k) => [k.id, k.name, k.revokedAt !== undefined]), [[first.id, 'first', true], [second.id, undefined, false]])
      for (const info of keys) {
        assert.deepEqual(Object.keys(info).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'tenantId'])
        assert.equal(info.tenantId, tenant.id)
      }
      assert.ok(!JSON.stringify(keys).includes(first.key.slice(13)))
    })

    it('answers NOT_FOUND for revoking an unknown key and TENANT_NOT_FOUND for keys of an unknown tenant', async () => {
      await assert.rejects(catalog.revokeApiKey(randomUUID()), expectCode('NOT_FOUND', /No API key/))
      await assert.rejects(catalog.createApiKey(randomUUID()), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.listApiKeys(randomUUID()), expectCode('TENANT_NOT_FOUND'))
    })

    it('rejects malformed ids and names with VALIDATION_FAILED and writes nothing', async () => {
      const count = async (): Promise<unknown> => (await db.pool.query('select count(*)::int as n from tenantry.api_keys')).rows[0]
      const before = await count()
      await assert.rejects(catalog.createApiKey('acme'), expectCode('VALIDATION_FAILED', /tenantId must be a UUID/))
      await assert.rejects(catalog.createApiKey(acme.id, { name: '' }), expectCode('VALIDATION_FAILED', /options\.name/))
      await assert.rejects(catalog.createApiKey(acme.id, { label: 'x' } as never), expectCode('VALIDATION_FAILED', /options\.label/))
      await assert.rejects(catalog.revokeApiKey('key-1'), expectCode('VALIDATION_FAILED', /keyId must be a UUID/))
      assert.deepEqual(await count(), before)
    })
  })
}
