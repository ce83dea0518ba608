import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CachedApiKeyVerifier, CachedTenantDirectory, applyTenantChange, type TenantChange } from '@tenantry/core'
import { TenantCatalog } from '../src/catalog/index.ts'
import { openCatalog, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'

for (const backend of testBackends()) {
  describe(`tenant catalog change events on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    const seen: TenantChange[] = []
    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
      catalog.onChange((change) => {
        seen.push(change)
      })
    })
    after(async () => {
      await db.close()
    })

    it('reports every change that can make a lookup stale, after it committed', async () => {
      seen.length = 0
      const slug = slugFor('events')
      const tenant = await catalog.create({ slug, name: 'Events', domains: [`${slug}.example.com`] })
      // The listener ran before the write's promise resolved.
      assert.deepEqual(seen.map((c) => c.kind), ['tenant.created'])
      assert.deepEqual(seen[0], { kind: 'tenant.created', tenantId: tenant.id, slug, domains: [`${slug}.example.com`] })
      await catalog.update(tenant.id, { name: 'Events 2' })
      await catalog.suspend(tenant.id)
      await catalog.resume(tenant.id)
      await catalog.addDomain(tenant.id, `x.${slug}.example.com`)
      await catalog.removeDomain(`${slug}.example.com`)
      const { id: keyId } = await catalog.createApiKey(tenant.id)
      await catalog.revokeApiKey(keyId)
      await catalog.beginOffboarding(tenant.id)
      await catalog.markDeleted(tenant.id)
      assert.deepEqual(seen.map((c) => c.kind), [
        'tenant.created', 'tenant.updated', 'tenant.status_changed', 'tenant.status_changed', 'domain.added',
        'domain.removed', 'api_key.revoked', 'tenant.status_changed', 'tenant.deleted',
      ])
      assert.ok(seen.every((c) => c.tenantId === tenant.id))
      assert.deepEqual(seen[5]?.domains, [`${slug}.example.com`])
      assert.equal(seen[6]?.keyId, keyId)
    })

    it('reports nothing for a write that failed', async () => {
      const tenant = await catalog.create({ slug: slugFor('failing'), name: 'F' })
      seen.length = 0
      await assert.rejects(catalog.resume(tenant.id))
      assert.deepEqual(seen, [])
    })

    it('keeps the write when a listener throws (a process warning instead)', async () => {
      const warnings: string[] = []
      const onWarning = (w: Error) => warnings.push(w.message)
      process.on('warning', onWarning)
      const off = catalog.onChange(() => {
        throw new Error('listener broke')
      })
      try {
        const tenant = await catalog.create({ slug: slugFor('robust'), name: 'R' })
        assert.equal((await catalog.getById(tenant.id))?.id, tenant.id)
        await new Promise((resolve) => setImmediate(resolve))
        assert.ok(warnings.some((w) => w.includes('listener broke')))
      } finally {
        off()
        process.off('warning', onWarning)
      }
    })

    it('keeps cached lookups and keys current in-process: suspend, domain move, revoke, delete', async () => {
      const directory = new CachedTenantDirectory(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
      const apiKeys = new CachedApiKeyVerifier(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
      const off = catalog.onChange((change) => applyTenantChange(change, { directory, apiKeys }))
      try {
        const slug = slugFor('cached')
        assert.equal(await directory.getBySlug(slug), undefined)
        const tenant = await catalog.create({ slug, name: 'Cached' })
        assert.equal((await directory.getBySlug(slug))?.status, 'active')
        await catalog.suspend(tenant.id)
        assert.equal((await directory.getBySlug(slug))?.status, 'suspended')
        await catalog.resume(tenant.id)
        const domain = `${slug}.example.org`
        assert.equal(await directory.getByDomain(domain), undefined)
        await catalog.addDomain(tenant.id, domain)
        assert.equal((await directory.getByDomain(domain))?.id, tenant.id)
        const { id: keyId, key } = await catalog.createApiKey(tenant.id)
        assert.equal((await apiKeys.verifyApiKey(key))?.keyId, keyId)
        await catalog.revokeApiKey(keyId)
        assert.equal(await apiKeys.verifyApiKey(key), undefined)
        await catalog.beginOffboarding(tenant.id)
        await catalog.markDeleted(tenant.id)
        assert.equal(await directory.getBySlug(slug), undefined)
        assert.equal(await directory.getById(tenant.id), undefined)
        assert.equal(await directory.getByDomain(domain), undefined)
      } finally {
        off()
      }
    })
  })
}
