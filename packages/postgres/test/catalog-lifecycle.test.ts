import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { canTransition, isTenantryError, tenantStatuses, type TenantStatus } from '@tenantry/core'
import { TenantCatalog, type TenantRecord } from '../src/catalog/index.ts'
import { openCatalog, expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'




for (const backend of testBackends()) {
  describe(`tenant catalog lifecycle on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
    })
    after(async () => {
      await db.close()
    })

    /** A fresh tenant already in `status` (by the lifecycle's own steps). */
    async function tenantIn(status: Exclude<TenantStatus, 'deleted'>, domains: string[] = []): Promise<TenantRecord> {
      const tenant = await catalog.create({ slug: slugFor(status), name: `In ${status}`, domains }, { activate: status !== 'provisioning' })
      if (status === 'suspended') return catalog.suspend(tenant.id)
      if (status === 'offboarding') return catalog.beginOffboarding(tenant.id)
      return tenant
    }

    async function deletedTenant(domains: string[] = []): Promise<TenantRecord> {
      return catalog.markDeleted((await tenantIn('offboarding', domains)).id)
    }

    const live = tenantStatuses.filter((s): s is Exclude<TenantStatus, 'deleted'> => s !== 'deleted')

    for (const from of live) {
      for (const to of tenantStatuses.filter((s) => canTransition(from, s))) {
        it(`allows ${from} -> ${to}`, async () => {
          const tenant = await tenantIn(from)
          const moved = await catalog.transition(tenant.id, to)
          assert.equal(moved.status, to)
          assert.equal(moved.deletedAt !== undefined, to === 'deleted')
          const stored = await catalog.getById(tenant.id, { includeDeleted: true })
          assert.equal(stored?.status, to)
        })
      }
      for (const to of tenantStatuses.filter((s) => !canTransition(from, s))) {
        it(`refuses ${from} -> ${to} with CONFLICT and keeps the status`, async () => {
          const tenant = await tenantIn(from)
          await assert.rejects(catalog.transition(tenant.id, to), expectCode('CONFLICT', new RegExp(`from "${from}" to "${to}"`)))
          assert.equal((await catalog.requireById(tenant.id)).status, from)
        })
      }
    }

    it('activates only provisioning tenants and resumes only suspended ones', async () => {
      const suspended = await tenantIn('suspended')
      await assert.rejects(catalog.activate(suspended.id), expectCode('CONFLICT', /activate applies only to provisioning/))
      assert.equal((await catalog.resume(suspended.id)).status, 'active')
      const provisioning = await tenantIn('provisioning')
      await assert.rejects(catalog.resume(provisioning.id), expectCode('CONFLICT', /resume applies only to suspended/))
      assert.equal((await catalog.activate(provisioning.id)).status, 'active')
    })

    it('rejects an unknown target status and a malformed id with VALIDATION_FAILED', async () => {
      const tenant = await tenantIn('active')
      await assert.rejects(catalog.transition(tenant.id, 'archived' as never), expectCode('VALIDATION_FAILED', /to must be one of/))
      await assert.rejects(catalog.suspend('acme'), expectCode('VALIDATION_FAILED', /UUID/))
      assert.equal((await catalog.requireById(tenant.id)).status, 'active')
    })

    it('serialises concurrent transitions of one tenant so exactly one suspend wins', async () => {
      const tenant = await tenantIn('active')
      const results = await Promise.allSettled([1, 2, 3, 4].map(() => catalog.suspend(tenant.id)))
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
      for (const r of results) if (r.status === 'rejected') assert.ok(isTenantryError(r.reason, 'CONFLICT'), String(r.reason))
      const audit = await catalog.listAudit({ tenantId: tenant.id, action: 'tenant.status_changed' })
      assert.equal(audit.length, 1)
    })

    it("frees a deleted tenant's slug for a new tenant", async () => {
      const gone = await deletedTenant()
      const successor = await catalog.create({ slug: gone.slug, name: 'Successor' })
      assert.notEqual(successor.id, gone.id)
      assert.equal((await catalog.requireBySlug(gone.slug)).id, successor.id)
    })

    it('no longer finds a deleted tenant by id, slug or domain', async () => {
      const domain = `${slugFor('gone')}.example.com`
      const gone = await deletedTenant([domain])
      assert.equal(gone.status, 'deleted')
      assert.ok(gone.deletedAt instanceof Date)
      assert.equal(await catalog.getById(gone.id), undefined)
      assert.equal(await catalog.getBySlug(gone.slug), undefined)
      assert.equal(await catalog.getByDomain(domain), undefined)
      await assert.rejects(catalog.requireById(gone.id), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.requireBySlug(gone.slug), expectCode('TENANT_NOT_FOUND'))
      assert.equal((await catalog.getById(gone.id, { includeDeleted: true }))?.status, 'deleted')
    })

    it("releases a deleted tenant's domains for other tenants and revokes its API keys", async () => {
      const domain = `${slugFor('released')}.example.com`
      const tenant = await tenantIn('offboarding', [domain])
      const { key } = await catalog.createApiKey(tenant.id)
      await catalog.markDeleted(tenant.id)
      assert.equal(await catalog.verifyApiKey(key), undefined)
      const revoked = await db.pool.query('select 1 from tenantry.api_keys where tenant_id = $1 and revoked_at is not null', [tenant.id])
      assert.equal(revoked.rowCount, 1)
      const heir = await catalog.create({ slug: slugFor('heir'), name: 'Heir', domains: [domain] })
      assert.equal((await catalog.requireByDomain(domain)).id, heir.id)
    })

    it('answers TENANT_NOT_FOUND for any change to a deleted tenant', async () => {
      const gone = await deletedTenant()
      await assert.rejects(catalog.update(gone.id, { name: 'Zombie' }), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.resume(gone.id), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.markDeleted(gone.id), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.addDomain(gone.id, `${slugFor('z')}.example.com`), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.createApiKey(gone.id), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.setPlacement(gone.id, { schema: 'x' }), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.transition(randomUUID(), 'suspended'), expectCode('TENANT_NOT_FOUND'))
    })

    it('lists deleted tenants only when asked for status deleted', async () => {
      const gone = await deletedTenant()
      const livePage = await catalog.list({ limit: 500 })
      assert.ok(!livePage.items.some((t) => t.id === gone.id))
      assert.ok(livePage.items.every((t) => t.status !== 'deleted'))
      const deletedPage = await catalog.list({ status: 'deleted', limit: 500 })
      assert.ok(deletedPage.items.some((t) => t.id === gone.id))
    })

    it('replaces the placement and records the change in the audit log', async () => {
      const tenant = await catalog.create({ slug: slugFor('placed'), name: 'Placed', isolation: 'database' }, { placement: { server: 'eu-1' } })
      const placed = await catalog.setPlacement(tenant.id, { database: `tenant_${tenant.slug}` })
      assert.deepEqual(placed.placement, { database: `tenant_${tenant.slug}` })
      assert.deepEqual((await catalog.requireById(tenant.id)).placement, placed.placement)
      const [entry] = await catalog.listAudit({ tenantId: tenant.id, action: 'tenant.placement_changed' })
      assert.deepEqual(entry?.details, { slug: tenant.slug, from: { server: 'eu-1' }, to: placed.placement })
    })

    it('rejects a placement with unknown fields or empty names with VALIDATION_FAILED', async () => {
      const tenant = await tenantIn('active')
      await assert.rejects(catalog.setPlacement(tenant.id, { shard: 3 } as never), expectCode('VALIDATION_FAILED', /placement\.shard/))
      await assert.rejects(catalog.setPlacement(tenant.id, { schema: '' }), expectCode('VALIDATION_FAILED', /placement\.schema/))
      await assert.rejects(catalog.setPlacement(tenant.id, 'schema' as never), expectCode('VALIDATION_FAILED', /placement must be an object/))
      assert.deepEqual((await catalog.requireById(tenant.id)).placement, {})
    })
  })
}
