/**
 * The admin API's reads for the console (docs/console.md), over HTTP on PGlite
 * and PostgreSQL: the paged, searched, sorted tenant list (the plain list of
 * DESIGN §4 unchanged), one tenant's live window, audit trail and migrations,
 * the fleet view, the guard on each, and the console page itself.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { codeOf, testBackends } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

for (const backend of testBackends()) {
  describe(`the console's admin API on ${backend.name}`, () => {
    let s: SaasUnderTest
    before(async () => {
      s = await startSaasUnderTest(backend, { admission: 'default' })
      // 40 more shared tenants, to page through.
      for (let i = 0; i < 40; i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) => s.admin('/tenants', { method: 'POST', body: { slug: `page-${String(i + j).padStart(2, '0')}`, name: `Paged ${i + j}` } })))
      }
    })
    after(async () => {
      await s?.close()
    })

    it('keeps GET /tenants without a query as DESIGN §4 has it: every tenant, { items } only', async () => {
      const r = await s.admin('/tenants')
      assert.equal(r.status, 200)
      assert.deepEqual(Object.keys(r.body), ['items'])
      assert.equal(r.body.items.length, 43)
    })

    it('pages, searches, filters and sorts the list on the server, with live figures and the placement', async () => {
      const first = await s.admin('/tenants?sort=slug&order=asc&limit=10&offset=0')
      assert.equal(first.status, 200, first.text)
      assert.equal(first.body.total, 43)
      assert.equal(first.body.items.length, 10)
      assert.deepEqual(first.body.items.slice(0, 2).map((t: { slug: string }) => t.slug), ['acme', 'globex'])
      const last = await s.admin('/tenants?sort=slug&order=asc&limit=10&offset=40')
      assert.deepEqual(last.body.items.map((t: { slug: string }) => t.slug), ['page-37', 'page-38', 'page-39'])
      const desc = await s.admin('/tenants?sort=slug&order=desc&limit=1')
      assert.equal(desc.body.items[0].slug, 'page-39')
      const found = await s.admin('/tenants?q=PAGED%203&limit=50')
      assert.deepEqual(found.body.items.map((t: { slug: string }) => t.slug), ['page-03', 'page-30', 'page-31', 'page-32', 'page-33', 'page-34', 'page-35', 'page-36', 'page-37', 'page-38', 'page-39'])
      const row = first.body.items[0]
      assert.deepEqual(Object.keys(row.live).sort(), ['error_rate', 'p99_ms', 'rps'])
      assert.ok('placement' in row)

      // Traffic moves acme to the top of the live sort.
      const key = await s.keyFor('acme')
      for (let i = 0; i < 5; i++) assert.equal((await s.call('/api/projects', { host: 'acme', key })).status, 200)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const busiest = await s.admin('/tenants?sort=rps&order=desc&limit=1')
      assert.equal(busiest.body.items[0].slug, 'acme')
      assert.ok(busiest.body.items[0].live.rps > 0)

      // A suspend shows at once in a filtered list (the list is read again after a write).
      assert.equal((await s.admin('/tenants/page-05/suspend', { method: 'POST' })).status, 200)
      const suspended = await s.admin('/tenants?status=suspended')
      assert.ok(suspended.body.items.some((t: { slug: string }) => t.slug === 'page-05'))
    })

    it('refuses a bad list query with VALIDATION_FAILED, naming the parameter', async () => {
      for (const query of ['sort=password', 'limit=0', 'limit=5000', 'order=up', 'offset=-1', 'unknown=1']) {
        const r = await s.admin(`/tenants?${query}`)
        assert.equal(r.status, 400, query)
        assert.equal(codeOf(r), 'VALIDATION_FAILED', query)
      }
    })

    it('serves one tenant\'s live window, audit trail and migration status', async () => {
      const live = await s.admin('/tenants/acme/live')
      assert.equal(live.status, 200)
      assert.ok(live.body.summary.requests >= 5)
      assert.ok(Array.isArray(live.body.series) && live.body.series.length > 0)
      assert.ok(live.body.series.some((p: { requests: number }) => p.requests > 0))
      const audit = await s.admin('/tenants/page-05/audit')
      assert.equal(audit.status, 200)
      const actions = audit.body.items.map((a: { action: string }) => a.action)
      // Newest first: the suspend, the activation, the creation.
      assert.deepEqual(actions, ['tenant.status_changed', 'tenant.status_changed', 'tenant.created'])
      assert.ok(audit.body.items.every((a: { at: string }) => !Number.isNaN(Date.parse(a.at))))
      for (const slug of ['acme', 'globex', 'initech']) {
        const m = await s.admin(`/tenants/${slug}/migrations`)
        assert.equal(m.status, 200, m.text)
        assert.ok(m.body.migrations.length > 0)
        assert.ok(m.body.migrations.every((x: { state: string }) => x.state === 'applied'), `${slug}: ${m.text}`)
      }
      assert.equal((await s.admin('/tenants/acme/migrations')).body.target, 'shared')
      assert.equal((await s.admin('/tenants/nobody/live')).status, 404)
    })

    it('serves the fleet: migrations per migration, the pool router, the limiter and the bulkhead; and the live fleet', async () => {
      const fleet = await s.admin('/fleet')
      assert.equal(fleet.status, 200, fleet.text)
      assert.ok(fleet.body.migrations.tenant.length > 0)
      assert.ok(fleet.body.migrations.tenant.every((r: { failed: number; pending: number }) => r.failed === 0 && r.pending === 0))
      assert.deepEqual(fleet.body.migrations.failures, [])
      assert.equal(typeof fleet.body.pool.budget, 'number')
      assert.equal(typeof fleet.body.admission.limiter.checks, 'number')
      assert.equal(typeof fleet.body.admission.bulkhead, 'object')
      const live = await s.admin('/live')
      assert.equal(live.status, 200)
      assert.ok(live.body.fleet.requests >= 5)
      assert.equal(live.body.top[0].slug, 'acme')
    })

    it('guards every console read with the admin token and the bare host', async () => {
      for (const path of ['/admin/api/live', '/admin/api/fleet', '/admin/api/tenants/acme/audit', '/admin/api/tenants?limit=1']) {
        assert.equal((await s.call(path)).status, 401, path)
        assert.equal((await s.call(path, { host: 'acme', key: s.adminToken })).status, 404, path)
      }
    })

    it('serves the console page at /admin on the bare host, with a strict content security policy, and its assets', async () => {
      const page = await s.call('/admin')
      assert.equal(page.status, 200)
      assert.match(String(page.headers['content-type']), /^text\/html/)
      assert.match(page.text, /<div id="root">/)
      assert.match(String(page.headers['content-security-policy']), /default-src 'self'/)
      assert.equal(page.headers['x-frame-options'], 'DENY')
      const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(page.text)?.[1]
      assert.ok(script, 'the page loads its script from /admin/assets/')
      const asset = await s.call(script)
      assert.equal(asset.status, 200)
      assert.match(String(asset.headers['content-type']), /javascript/)
      assert.equal((await s.call('/admin', { host: 'acme' })).status, 404, 'not on a tenant host')
    })
  })
}
