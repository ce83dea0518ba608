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

    it('says the app runs no job queue without Redis, and serves no report routes', async () => {
      const r = await s.admin('/tenants/acme/jobs')
      assert.equal(r.status, 200, r.text)
      assert.deepEqual(r.body, { available: false, queues: [] })
      assert.equal(codeOf(await s.admin('/tenants/no-such/jobs')), 'TENANT_NOT_FOUND')
      const key = await s.keyFor('acme')
      assert.equal(codeOf(await s.call('/api/reports', { method: 'POST', host: 'acme', key })), 'NOT_FOUND')
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

    it('sorts by a live figure across tenants with and without one, both ways, page by page, with the search applied', async () => {
      const live = s.saas.observability!.live
      const idOf = async (slug: string): Promise<string> => (await s.admin(`/tenants/${slug}`)).body.id as string
      const record = async (slug: string, ok: number, failed = 0): Promise<void> => {
        const id = await idOf(slug)
        for (let i = 0; i < ok; i++) live.record(id, { durationMs: 2, status: 200 })
        for (let i = 0; i < failed; i++) live.record(id, { durationMs: 2, status: 500 })
      }
      await record('page-20', 1000)
      await record('page-21', 500)
      await record('page-22', 500)
      const slugsOf = async (query: string): Promise<{ slugs: string[]; total: number }> => {
        const r = await s.admin(`/tenants?${query}`)
        assert.equal(r.status, 200, r.text)
        return { slugs: r.body.items.map((t: { slug: string }) => t.slug), total: r.body.total }
      }
      // Descending: the ranked ones (ties by slug; acme has its few requests), then everyone else by slug.
      assert.deepEqual(await slugsOf('sort=rps&order=desc&limit=3'), { slugs: ['page-20', 'page-21', 'page-22'], total: 43 })
      assert.deepEqual(await slugsOf('sort=rps&order=desc&limit=4&offset=2'), { slugs: ['page-22', 'acme', 'globex', 'initech'], total: 43 })
      assert.deepEqual(await slugsOf('sort=rps&order=desc&limit=10&offset=40'), { slugs: ['page-37', 'page-38', 'page-39'], total: 43 })
      // Ascending: everyone without traffic first, then the ranked ones, least first.
      assert.deepEqual(await slugsOf('sort=rps&order=asc&limit=3&offset=38'), { slugs: ['page-39', 'acme', 'page-21'], total: 43 })
      assert.deepEqual(await slugsOf('sort=rps&order=asc&limit=5&offset=41'), { slugs: ['page-22', 'page-20'], total: 43 })
      assert.deepEqual(await slugsOf('sort=rps&order=desc&limit=5&q=page-2'), { slugs: ['page-20', 'page-21', 'page-22', 'page-23', 'page-24'], total: 10 })
      assert.deepEqual(await slugsOf('sort=rps&order=desc&limit=5&q=page-2&status=suspended'), { slugs: [], total: 0 })
      // The error rate: a tenant with traffic and no errors sorts with the ones without traffic.
      await record('page-30', 10, 10)
      assert.deepEqual(await slugsOf('sort=error_rate&order=desc&limit=3'), { slugs: ['page-30', 'acme', 'globex'], total: 43 })
      const row = (await s.admin('/tenants?sort=error_rate&order=desc&limit=1')).body.items[0]
      assert.equal(row.live.error_rate, 0.5)
      // The placement: the schema and database tenants have one, the shared ones none.
      assert.deepEqual((await slugsOf('sort=placement&order=desc&limit=2')).slugs.sort(), ['globex', 'initech'])
    })

    it('refuses a bad list query with VALIDATION_FAILED, naming the parameter', async () => {
      for (const query of ['sort=password', 'limit=0', 'limit=5000', 'order=up', 'offset=-1', 'unknown=1', 'q=%00', 'q=a%00b&sort=rps']) {
        const r = await s.admin(`/tenants?${query}`)
        assert.equal(r.status, 400, `${query}: ${r.text}`)
        assert.equal(codeOf(r), 'VALIDATION_FAILED', query)
        if (query.startsWith('q=')) assert.deepEqual(r.body.error.details.map((d: { path: string }) => d.path), ['query.q'], r.text)
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
      // The busiest first, by slug (page-20 got 1,000 requests above; acme its few through the tenant API).
      assert.equal(live.body.top[0].slug, 'page-20')
      assert.ok(live.body.top.some((t: { slug: string }) => t.slug === 'acme'))
    })

    it('answers an unknown tenant with TENANT_NOT_FOUND and a bad slug or query with VALIDATION_FAILED, on every tenant read', async () => {
      for (const read of ['live', 'audit', 'migrations']) {
        const unknown = await s.admin(`/tenants/nobody-here/${read}`)
        assert.equal(unknown.status, 404, read)
        assert.equal(codeOf(unknown), 'TENANT_NOT_FOUND', read)
        assert.match(unknown.body.error.message, /nobody-here/, read)
        const bad = await s.admin(`/tenants/Not_A_Slug/${read}`)
        assert.equal(bad.status, 400, read)
        assert.equal(codeOf(bad), 'VALIDATION_FAILED', read)
      }
      for (const query of ['limit=0', 'limit=1001', 'limit=x', 'since=1']) {
        const r = await s.admin(`/tenants/acme/audit?${query}`)
        assert.equal(codeOf(r), 'VALIDATION_FAILED', query)
      }
      assert.equal((await s.admin('/tenants/acme/audit?limit=1')).body.items.length, 1)
    })

    it('guards every console read with the admin token and the bare host', async () => {
      for (const path of ['/admin/api/live', '/admin/api/fleet', '/admin/api/tenants/acme/live', '/admin/api/tenants/acme/audit', '/admin/api/tenants/acme/migrations', '/admin/api/tenants?limit=1']) {
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

    it('serves the console page for its client routes under /admin/, but never for the admin API or a missing asset', async () => {
      for (const path of ['/admin/', '/admin/tenants', '/admin/tenants/acme', '/admin/fleet']) {
        const page = await s.call(path)
        assert.equal(page.status, 200, path)
        assert.match(page.text, /<div id="root">/, path)
        assert.match(String(page.headers['content-security-policy']), /default-src 'self'/, path)
      }
      const api = await s.call('/admin/api/nothing-here', { key: s.adminToken })
      assert.equal(api.status, 404)
      assert.equal(codeOf(api), 'NOT_FOUND')
      assert.match(String(api.headers['content-type']), /json/)
      const asset = await s.call('/admin/assets/missing.js')
      assert.equal(asset.status, 404)
      assert.equal(codeOf(asset), 'NOT_FOUND')
      assert.equal((await s.call('/admin/tenants/acme', { host: 'acme' })).status, 404, 'not on a tenant host')
    })

    // Last: it leaves 10,000 more tenants behind.
    it('pages, searches and sorts 10,000 tenants without reading more than a page of rows', async () => {
      const pool = s.saas.tenantry.target.pool
      await pool.query(
        `insert into tenantry.tenants (id, slug, name, status, isolation)
         select gen_random_uuid(), 'k-' || lpad(i::text, 5, '0'), 'Tenant ' || i, 'active', 'shared' from generate_series(1, 10000) i`,
      )
      const query = pool.query
      let most = 0
      pool.query = (async (...args: unknown[]) => {
        const result = await (query as (...a: unknown[]) => Promise<{ rows?: unknown[] }>).apply(pool, args)
        most = Math.max(most, result?.rows?.length ?? 0)
        return result
      }) as typeof pool.query
      try {
        const found = await s.admin('/tenants?q=k-07777&limit=25')
        assert.deepEqual({ total: found.body.total, slugs: found.body.items.map((t: { slug: string }) => t.slug) }, { total: 1, slugs: ['k-07777'] })
        const deep = await s.admin('/tenants?sort=name&order=desc&limit=50&offset=9000')
        assert.equal(deep.status, 200, deep.text)
        assert.equal(deep.body.total, 10_043)
        assert.equal(deep.body.items.length, 50)
        const byRps = await s.admin('/tenants?sort=rps&order=desc&limit=50&offset=5000')
        assert.equal(byRps.body.total, 10_043)
        assert.equal(byRps.body.items.length, 50)
        assert.deepEqual((await s.admin('/tenants?sort=rps&order=desc&limit=1')).body.items.map((t: { slug: string }) => t.slug), ['page-20'])
        assert.ok(most <= 50, `a list request read ${most} rows in one query`)
      } finally {
        pool.query = query
      }
    })
  })
}
