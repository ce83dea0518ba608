import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type pg from 'pg'
import { TenantryError, onSystemScope, runAsSystem, runWithTenant } from '@tenantry/core'
import { TenantCatalog } from '../src/catalog/index.ts'
import { expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'




for (const backend of testBackends()) {
  describe(`tenant catalog audit log on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    before(async () => {
      db = await backend.createDatabase()
      catalog = new TenantCatalog({ target: db, defaultActor: 'catalog-tests' })
      await catalog.install()
    })
    after(async () => {
      await db.close()
    })

    it('writes one audit row for each catalog change', async () => {
      const tenant = await catalog.create({ slug: slugFor('audited'), name: 'Audited' }, { actor: 'alice', reason: 'signup' })
      await catalog.update(tenant.id, { plan: 'pro' })
      await catalog.addDomain(tenant.id, `${tenant.slug}.example.com`)
      const { id: keyId } = await catalog.createApiKey(tenant.id)
      await catalog.revokeApiKey(keyId)
      await catalog.removeDomain(`${tenant.slug}.example.com`)
      await catalog.setPlacement(tenant.id, { server: 'eu-1' })
      await catalog.suspend(tenant.id)
      const trail = await catalog.listAudit({ tenantId: tenant.id })
      assert.deepEqual(trail.map((e) => e.action).reverse(), [
        'tenant.created', 'tenant.updated', 'domain.added', 'api_key.created', 'api_key.revoked',
        'domain.removed', 'tenant.placement_changed', 'tenant.status_changed',
      ])
      const created = trail.at(-1)
      assert.equal(created?.actor, 'alice')
      assert.equal(created?.reason, 'signup')
      assert.equal(trail[0]?.actor, 'catalog-tests')
      assert.deepEqual(trail[0]?.details, { slug: tenant.slug, from: 'active', to: 'suspended' })
    })

    it('writes nothing to the audit log when a change fails', async () => {
      const slug = slugFor('failing')
      await catalog.create({ slug, name: 'First' })
      const count = async (): Promise<unknown> => (await db.pool.query('select count(*)::int as n from tenantry.audit_log')).rows[0]
      const before = await count()
      await assert.rejects(catalog.create({ slug, name: 'Second' }), expectCode('CONFLICT'))
      await assert.rejects(catalog.create({ slug: 'admin', name: 'Bad' }), expectCode('VALIDATION_FAILED'))
      assert.deepEqual(await count(), before)
    })

    it('records runAsSystem in the audit log when its listener is registered', async () => {
      const off = onSystemScope(catalog.auditListener())
      const reason = `usage report ${randomUUID()}`
      try {
        const answer = await runAsSystem(reason, () => 42, { actor: 'cron' })
        assert.equal(answer, 42)
      } finally {
        off()
      }
      const [entry] = await catalog.listAudit({ action: 'system_scope', limit: 1 })
      assert.equal(entry?.reason, reason)
      assert.equal(entry?.actor, 'cron')
      assert.equal(entry?.tenantId, undefined)
      await runAsSystem('after unregistering', () => undefined)
      assert.equal((await catalog.listAudit({ action: 'system_scope', limit: 1 }))[0]?.reason, reason)
    })

    it('records the tenant a system scope was entered from', async () => {
      const tenant = await catalog.create({ slug: slugFor('origin'), name: 'Origin' })
      const off = onSystemScope(catalog.auditListener())
      try {
        await runWithTenant(tenant, () => runAsSystem('support lookup', () => undefined))
      } finally {
        off()
      }
      const [entry] = await catalog.listAudit({ tenantId: tenant.id, action: 'system_scope' })
      assert.equal(entry?.reason, 'support lookup')
      assert.deepEqual(entry?.details, { enteredFrom: { id: tenant.id, slug: tenant.slug } })
    })

    it('keeps system work from running when the audit write fails', async () => {
      const down = { query: () => Promise.reject(new Error('audit store down')), connect: () => Promise.reject(new Error('down')) } as unknown as pg.Pool
      const off = onSystemScope(new TenantCatalog({ pool: down }).auditListener())
      let ran = false
      try {
        await assert.rejects(runAsSystem('must be audited', () => { ran = true }), /audit store down/)
      } finally {
        off()
      }
      assert.equal(ran, false)
    })

    it("attributes changes made in a system scope to the scope's actor and reason", async () => {
      const tenant = await catalog.create({ slug: slugFor('scoped'), name: 'Scoped' })
      await runAsSystem('abuse report #42', () => catalog.suspend(tenant.id), { actor: 'ops:bob' })
      const [entry] = await catalog.listAudit({ tenantId: tenant.id, action: 'tenant.status_changed' })
      assert.equal(entry?.actor, 'ops:bob')
      assert.equal(entry?.reason, 'abuse report #42')
    })

    it('writes and lists custom audit entries newest first', async () => {
      const tenantId = randomUUID()
      const first = await catalog.audit({ action: 'billing.invoice_sent', tenantId, details: { invoice: 'INV-1' } })
      const second = await catalog.audit({ action: 'billing.invoice_sent', tenantId, actor: 'billing', reason: 'monthly', details: [1, 2] })
      assert.deepEqual((await catalog.listAudit({ tenantId })).map((e) => e.id), [second.id, first.id])
      assert.deepEqual(second.details, [1, 2])
      assert.equal(first.actor, undefined)
      assert.deepEqual((await catalog.listAudit({ tenantId, limit: 1 })).map((e) => e.id), [second.id])
    })

    it('rejects a malformed audit entry or query with VALIDATION_FAILED', async () => {
      await assert.rejects(catalog.audit({ action: '' }), expectCode('VALIDATION_FAILED', /action/))
      await assert.rejects(catalog.audit({ action: 'Tenant Created' }), expectCode('VALIDATION_FAILED', /action/))
      await assert.rejects(catalog.audit({ action: 'x.y', tenantId: 'acme' }), expectCode('VALIDATION_FAILED', /tenantId/))
      await assert.rejects(catalog.audit({ action: 'x.y', details: { big: 'x'.repeat(70_000) } }), expectCode('VALIDATION_FAILED', /details/))
      // jsonb cannot store a NUL or half a surrogate pair, in a value or a key: refused before the write, not a 500 from the server.
      for (const details of [{ note: 'a\u0000b' }, { note: ['x', 'lone \uD800'] }, { ['k\uDC00']: 1 }]) {
        await assert.rejects(catalog.audit({ action: 'x.y', details }), expectCode('VALIDATION_FAILED', /details must not hold a NUL/))
      }
      assert.deepEqual((await catalog.audit({ action: 'x.y', details: { note: 'pair 😀 ok' } })).details, { note: 'pair 😀 ok' })
      // Many array items before the bad string (indexes are not text of the JSON) do not hide it.
      await assert.rejects(catalog.audit({ action: 'x.y', details: [...Array<number>(20_000).fill(0), 'a\u0000b'] }), expectCode('VALIDATION_FAILED', /details must not hold a NUL/))
      // A getter below the top is read once: what is stored is what was checked.
      let noteReads = 0
      const nested = { inner: Object.defineProperty({}, 'note', { enumerable: true, get: () => (++noteReads === 1 ? 'checked' : 'x\u0000') }) }
      assert.deepEqual((await catalog.audit({ action: 'x.y', details: nested })).details, { inner: { note: 'checked' } })
      assert.equal(noteReads, 1)
      // An option whose getter throws an error of its own making (a 409, say) is the options' failure to be read, and each is read once.
      const forged = Object.defineProperty({ action: 'x.y' }, 'reason', { enumerable: true, get: () => { throw new TenantryError('CONFLICT', 'made up') } })
      await assert.rejects(catalog.audit(forged as never), expectCode('VALIDATION_FAILED', /can be read/))
      let reads = 0
      const once = Object.defineProperty({ action: 'x.y' }, 'reason', { enumerable: true, get: () => (++reads === 1 ? 'first' : 'x\u0000') })
      assert.equal((await catalog.audit(once as never)).reason, 'first')
      assert.equal(reads, 1)
      await assert.rejects(catalog.audit({ action: 'x.y', when: 'now' } as never), expectCode('VALIDATION_FAILED', /when/))
      await assert.rejects(catalog.listAudit({ limit: 5000 }), expectCode('VALIDATION_FAILED', /limit/))
    })
  })
}
