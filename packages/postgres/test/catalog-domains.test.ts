import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { TenantCatalog } from '../src/catalog/index.ts'
import { openCatalog, expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'




for (const backend of testBackends()) {
  describe(`tenant catalog domains on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
    })
    after(async () => {
      await db.close()
    })

    it('adds a domain and resolves the tenant by it', async () => {
      const tenant = await catalog.create({ slug: slugFor('shop'), name: 'Shop' })
      const domain = `${tenant.slug}.example.com`
      const updated = await catalog.addDomain(tenant.id, domain)
      assert.deepEqual(updated.domains, [domain])
      assert.deepEqual(await catalog.listDomains(tenant.id), [domain])
      assert.equal((await catalog.requireByDomain(domain)).id, tenant.id)
    })

    it('treats adding a domain the tenant already has as no change', async () => {
      const domain = `${slugFor('mine')}.example.com`
      const tenant = await catalog.create({ slug: slugFor('mine'), name: 'Mine', domains: [domain] })
      const audit = (await catalog.listAudit({ tenantId: tenant.id })).length
      assert.deepEqual((await catalog.addDomain(tenant.id, domain)).domains, [domain])
      assert.equal((await catalog.listAudit({ tenantId: tenant.id })).length, audit)
    })

    it('rejects a domain another tenant has with CONFLICT and keeps it with its owner', async () => {
      const domain = `${slugFor('claimed')}.example.com`
      const owner = await catalog.create({ slug: slugFor('owner'), name: 'Owner', domains: [domain] })
      const other = await catalog.create({ slug: slugFor('other'), name: 'Other' })
      await assert.rejects(catalog.addDomain(other.id, domain), expectCode('CONFLICT', /already registered to another tenant/))
      assert.deepEqual(await catalog.listDomains(other.id), [])
      assert.equal((await catalog.requireByDomain(domain)).id, owner.id)
    })

    it('removes a domain so that it resolves to no tenant and can be registered again', async () => {
      const domain = `${slugFor('moving')}.example.com`
      const from = await catalog.create({ slug: slugFor('from'), name: 'From', domains: [domain] })
      const formerOwner = await catalog.removeDomain(domain)
      assert.equal(formerOwner.id, from.id)
      assert.deepEqual(formerOwner.domains, [])
      assert.equal(await catalog.getByDomain(domain), undefined)
      const to = await catalog.create({ slug: slugFor('to'), name: 'To' })
      await catalog.addDomain(to.id, domain)
      assert.equal((await catalog.requireByDomain(domain)).id, to.id)
    })

    it('answers NOT_FOUND when removing a domain no tenant has', async () => {
      await assert.rejects(catalog.removeDomain(`${slugFor('nobody')}.example.com`), expectCode('NOT_FOUND', /not registered/))
    })

    it('rejects uppercase names, ports, schemes and single labels with VALIDATION_FAILED and writes nothing', async () => {
      const tenant = await catalog.create({ slug: slugFor('strict'), name: 'Strict' })
      const count = async (): Promise<unknown> => (await db.pool.query('select count(*)::int as n from tenantry.domains')).rows[0]
      const before = await count()
      for (const bad of ['Shop.Example.com', 'shop.example.com:8080', 'https://shop.example.com', 'localhost', '', 'shop..example.com', 7]) {
        await assert.rejects(catalog.addDomain(tenant.id, bad as string), expectCode('VALIDATION_FAILED', /domain must be a lowercase domain name/), String(bad))
      }
      await assert.rejects(catalog.addDomain(tenant.id, 'Shop.Example.com'), expectCode('VALIDATION_FAILED', /write it in lowercase/))
      await assert.rejects(catalog.addDomain('not-an-id', 'shop.example.com'), expectCode('VALIDATION_FAILED', /UUID/))
      assert.deepEqual(await count(), before)
    })

    it('answers TENANT_NOT_FOUND for the domains of an unknown tenant', async () => {
      await assert.rejects(catalog.addDomain(randomUUID(), `${slugFor('orphan')}.example.com`), expectCode('TENANT_NOT_FOUND'))
      await assert.rejects(catalog.listDomains(randomUUID()), expectCode('TENANT_NOT_FOUND'))
    })
  })
}
