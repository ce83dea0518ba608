import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { currentTenant } from '@tenantry/core'
import { expectCode, openCatalog, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'
import { TenantCatalog, forEachTenant, type TenantRecord } from '../src/index.ts'

for (const backend of testBackends()) {
  describe(`forEachTenant on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    const active: TenantRecord[] = []
    let paused: TenantRecord

    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
      for (let i = 0; i < 23; i++) active.push(await catalog.create({ slug: slugFor(`t${i}`), name: `Tenant ${i}` }))
      paused = await catalog.create({ slug: slugFor('paused'), name: 'Paused' })
      await catalog.suspend(paused.id)
    })
    after(async () => {
      await db?.close()
    })

    it('runs the task once per active tenant, in its scope, a page at a time, at most `concurrency` at once', async () => {
      let running = 0
      let peak = 0
      const seen: string[] = []
      const summary = await forEachTenant(catalog, async (tenant) => {
        running++
        peak = Math.max(peak, running)
        assert.equal(currentTenant().id, tenant.id)
        await new Promise((r) => setTimeout(r, 2))
        seen.push(currentTenant().slug)
        running--
        return tenant.slug.length
      }, { concurrency: 3, pageSize: 5 })
      assert.equal(summary.ok, 23)
      assert.equal(summary.failed, 0)
      assert.equal(summary.skipped, 0)
      assert.deepEqual([...seen].sort(), active.map((t) => t.slug).sort(), 'every active tenant once, the suspended one not')
      assert.equal(peak, 3)
      for (const o of summary.outcomes) assert.equal(o.ok && o.result, o.slug.length)
    })

    it('keeps a tenant\'s failure to itself and says which tenants succeeded; a throwing listener changes nothing', async () => {
      const failing = new Set([active[2]!.id, active[17]!.id])
      const events: string[] = []
      const summary = await forEachTenant(catalog, (tenant) => {
        if (failing.has(tenant.id)) throw new Error(`report for ${tenant.slug} failed`)
        return 'sent'
      }, {
        onEvent: (o, progress) => {
          events.push(`${progress.done}`)
          throw new Error('listener bug')
        },
      })
      assert.equal(summary.ok, 21)
      assert.equal(summary.failed, 2)
      const failed = summary.outcomes.filter((o) => !o.ok)
      assert.deepEqual(failed.map((o) => o.tenantId).sort(), [...failing].sort())
      for (const o of failed) assert.match(!o.ok ? o.message : '', /report for .* failed/)
      assert.equal(events.length, 23)
    })

    it('stops starting tenants after a failure with stopOnError, or when aborted, and counts the rest as skipped', async () => {
      const summary = await forEachTenant(catalog, () => {
        throw new Error('down')
      }, { stopOnError: true, concurrency: 2, pageSize: 5 })
      assert.ok(summary.failed >= 1 && summary.failed <= 2, `${summary.failed} failed`)
      assert.equal(summary.failed + summary.ok + summary.skipped, 23)
      const controller = new AbortController()
      controller.abort()
      const aborted = await forEachTenant(catalog, () => 1, { signal: controller.signal })
      assert.deepEqual({ ok: aborted.ok, skipped: aborted.skipped }, { ok: 0, skipped: 23 })
    })

    it('runs over the suspended tenants when asked, and checks its options', async () => {
      const summary = await forEachTenant(catalog, () => currentTenant().slug, { status: 'suspended' })
      assert.deepEqual(summary.outcomes.map((o) => o.slug), [paused.slug])
      await assert.rejects(forEachTenant(catalog, () => 1, { concurrency: 0 }), expectCode('VALIDATION_FAILED'))
      await assert.rejects(forEachTenant({} as never, () => 1), expectCode('VALIDATION_FAILED'))
    })
  })
}
