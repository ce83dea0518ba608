import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { JobTenancy, combineQueryObservers, isTenantryError, runWithTenant, type QueryOutcome, type IsolationModelName, type RequestOutcome, type ScopedTenant, type Tenant } from '@tenantry/core'
import { TenantData } from '@tenantry/postgres'
import { dropRoles, openModels, testBackends, uniqueName, type TestDatabase, type TestModels } from '@tenantry/test-kit'
import { TenantMetrics } from '../src/index.ts'

function tenant(i: number): Tenant {
  const at = new Date(0)
  return { id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, slug: `t${i}`, name: `T${i}`, status: 'active', plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: at, updatedAt: at }
}

const request = (t: Tenant | undefined, status = 200, route = '/api/projects'): RequestOutcome =>
  ({ method: 'GET', route, status, tenant: t, durationMs: 3, limited: status === 429, rejected: status === 503 })

/** Series (lines with a value) of one metric in the text format, and the tenant label values among them. */
function seriesOf(text: string, metric: string): { series: string[]; tenants: Set<string> } {
  const series = text.split('\n').filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
  const tenants = new Set(series.map((line) => /tenant="([^"]*)"/.exec(line)?.[1]).filter((t): t is string => t !== undefined))
  return { series, tenants }
}

describe('TenantMetrics', () => {
  it('keeps the series count bounded at 10,000 tenants: the top K keep a label, the rest are "other", and a tenant that loses its label loses its series', async () => {
    const k = 20
    const metrics = new TenantMetrics({ topTenants: k })
    const tenants = Array.from({ length: 10_000 }, (_, i) => tenant(i))
    const routes = ['/api/projects', '/api/projects/:id', '/api/tasks']
    // Zipf-like traffic: tenant i gets about 1/(i+1) of the requests; every tenant is seen at least once.
    let seen = 0
    for (let round = 0; round < 3; round++) {
      for (const [i, t] of tenants.entries()) {
        const weight = Math.max(1, Math.floor(200 / (i + 1)))
        for (let n = 0; n < weight; n++) {
          metrics.request(request(t, n % 17 === 0 ? 500 : n % 13 === 0 ? 429 : 200, routes[n % routes.length]))
          seen++
        }
      }
      const text = await metrics.text()
      const requests = seriesOf(text, 'tenantry_http_requests_total')
      assert.ok(requests.tenants.size <= k + 1, `at most k + 1 tenant values (got ${requests.tenants.size})`)
      assert.ok(requests.tenants.has('other'))
      assert.ok(requests.series.length <= (k + 1) * routes.length * 3, `requests series bounded (got ${requests.series.length})`)
      for (const name of ['tenantry_http_request_duration_seconds_count', 'tenantry_rate_limited_total', 'tenantry_tenant_info']) {
        const { tenants: values } = seriesOf(text, name)
        assert.ok(values.size <= k + 1, `${name}: at most k + 1 tenant values (got ${values.size})`)
      }
    }
    assert.ok(seen > 30_000)
    // The busiest tenants have their own label, with their slug in tenant_info.
    const text = await metrics.text()
    assert.match(text, new RegExp(`tenantry_tenant_info\\{tenant="${tenants[0]!.id}",slug="t0",isolation="shared"\\} 1`))
    assert.match(text, new RegExp(`tenantry_http_requests_total\\{tenant="${tenants[0]!.id}",method="GET",route="/api/projects",status_class="5xx"\\} \\d+`))
    // Every request counted once: the sum over tenant values equals what was sent.
    const total = seriesOf(text, 'tenantry_http_requests_total').series.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0)
    const removed = seen - total
    assert.ok(removed >= 0, 'never more than was counted')
    assert.ok(metrics.labelledTenants().length <= k)
  })

  it('counts every request and query exactly across batches, whichever read comes first, and refuses a bad outcome to its caller', async () => {
    const metrics = new TenantMetrics({ topTenants: 5 })
    const a = tenant(1)
    const scoped = { id: a.id, slug: a.slug, status: a.status, isolation: 'shared' } as ScopedTenant
    // 1,000 requests and 600 queries: several batches of 256, and some held when the reads come.
    for (let i = 0; i < 1000; i++) {
      metrics.request(request(a))
      if (i % 5 < 3) metrics.query({ tenant: scoped, durationMs: 0.5, failed: i % 50 === 0 })
    }
    // The registry's own reads count what is held first, as text() does.
    const json = await metrics.registry.getMetricsAsJSON()
    const requests = json.find((m) => m.name === 'tenantry_http_requests_total')
    assert.equal(requests?.values.reduce((sum, v) => sum + v.value, 0), 1000)
    const text = await metrics.text()
    assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${a.id}",model="shared",outcome="ok"\\} 580`))
    assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${a.id}",model="shared",outcome="error"\\} 20`))
    assert.match(text, new RegExp(`tenantry_http_request_duration_seconds_count\\{tenant="${a.id}"\\} 1000`))
    // A job's end counts the requests held before it too.
    metrics.request(request(a))
    metrics.job({ tenant: a, queue: 'reports', outcome: 'completed', durationMs: 5 })
    const after = await metrics.text()
    assert.match(after, new RegExp(`tenantry_http_request_duration_seconds_count\\{tenant="${a.id}"\\} 1001`))
    // A bad outcome is refused where it is given, and nothing else is lost.
    for (const bad of [null, { route: 1 }, undefined]) assert.throws(() => metrics.request(bad as unknown as RequestOutcome), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => metrics.query({ tenant: undefined, durationMs: 1, failed: false } as unknown as QueryOutcome), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    metrics.request(request(a))
    assert.match(await metrics.text(), new RegExp(`tenantry_http_request_duration_seconds_count\\{tenant="${a.id}"\\} 1002`))
  })

  it('reads an outcome when it is counted: changing it, or its tenant, afterwards changes nothing counted', async () => {
    const metrics = new TenantMetrics({ topTenants: 5 })
    const t = { ...tenant(1) }
    const outcome = { ...request(t), tenant: t }
    metrics.request(outcome)
    const query = { tenant: t, model: 'shared', durationMs: 1, failed: false }
    metrics.query(query)
    Object.assign(outcome, { route: '/changed', status: 500, durationMs: 9_000, limited: true })
    Object.assign(query, { model: 'database', failed: true })
    Object.assign(t, { id: tenant(2).id, slug: 'changed' })
    const text = await metrics.text()
    const id = tenant(1).id
    assert.match(text, new RegExp(`tenantry_http_requests_total\\{tenant="${id}",method="GET",route="/api/projects",status_class="2xx"\\} 1`))
    assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${id}",model="shared",outcome="ok"\\} 1`))
    assert.match(text, new RegExp(`tenantry_tenant_info\\{tenant="${id}",slug="t1",isolation="shared"\\} 1`))
    assert.doesNotMatch(text, /changed|5xx|tenantry_rate_limited_total\{|model="database"|outcome="error"/)
    assert.doesNotMatch(text, new RegExp(tenant(2).id))
  })

  it('does not let refusals at the door (403 another tenant\'s key, 429) move the ranking either', () => {
    const metrics = new TenantMetrics({ topTenants: 1 })
    const [a, b] = [tenant(1), tenant(2)]
    for (let i = 0; i < 10; i++) metrics.request(request(a))
    for (let i = 0; i < 1000; i++) metrics.request(request(b, i % 2 === 0 ? 403 : 429))
    assert.deepEqual(metrics.labelledTenants(), [a.id])
  })

  it('counts an outcome whose getter counts another one inside it: each whole, in its own slot', async () => {
    const metrics = new TenantMetrics({ topTenants: 5 })
    const [a, b] = [tenant(1), tenant(2)]
    const outer = { ...request(a, 201, '/outer') }
    Object.defineProperty(outer, 'durationMs', { enumerable: true, get: () => (metrics.request(request(b, 200, '/inner')), 3) })
    metrics.request(outer)
    const lines = seriesOf(await metrics.text(), 'tenantry_http_requests_total').series
    assert.ok(lines.some((l) => l.includes(`tenant="${a.id}"`) && l.includes('route="/outer"') && l.includes('2xx') && l.endsWith(' 1')), lines.join('\n'))
    assert.ok(lines.some((l) => l.includes(`tenant="${b.id}"`) && l.includes('route="/inner"') && l.endsWith(' 1')), lines.join('\n'))
    assert.equal(lines.length, 2, lines.join('\n'))
  })

  it('removes the series of a tenant that loses its label', async () => {
    const metrics = new TenantMetrics({ topTenants: 1, halfLifeMs: 1 })
    const [a, b] = [tenant(1), tenant(2)]
    metrics.request(request(a))
    assert.match(await metrics.text(), new RegExp(`tenant="${a.id}"`))
    // b takes over: much more traffic, and a's decays away.
    await new Promise((resolve) => setTimeout(resolve, 30))
    for (let i = 0; i < 500; i++) metrics.request(request(b))
    const text = await metrics.text()
    assert.match(text, new RegExp(`tenant="${b.id}"`))
    assert.doesNotMatch(text, new RegExp(`tenant="${a.id}"`), "a's series are gone")
  })

  it('ranks by recent traffic: a tenant busy long ago (a few half-lives) loses its label to one busy now', async () => {
    const metrics = new TenantMetrics({ topTenants: 1, halfLifeMs: 20 })
    const [a, b] = [tenant(1), tenant(2)]
    for (let i = 0; i < 1000; i++) metrics.request(request(a))
    for (let i = 0; i < 10; i++) metrics.request(request(b))
    assert.deepEqual(metrics.labelledTenants(), [a.id], '10 requests now do not outweigh 1,000 now')
    // The ranking's clock moves every 100 ms: 300 ms is 15 half-lives, so a's 1,000 weigh less than b's next 10.
    await new Promise((resolve) => setTimeout(resolve, 300))
    for (let i = 0; i < 10; i++) metrics.request(request(b))
    assert.deepEqual(metrics.labelledTenants(), [b.id])
  })

  it('does not let unauthenticated requests (401) move the ranking: they count under the label a tenant has, or other', async () => {
    const metrics = new TenantMetrics({ topTenants: 2, halfLifeMs: 1 })
    const [a, b, c] = [tenant(1), tenant(2), tenant(3)]
    metrics.request(request(a))
    metrics.request(request(a, 401))
    // A flood of 401s naming other tenants: anyone can send them.
    for (let i = 0; i < 2_000; i++) metrics.request(request(i % 2 === 0 ? b : c, 401))
    assert.deepEqual(metrics.labelledTenants(), [a.id], 'only the authenticated tenant took a label')
    const text = await metrics.text()
    assert.doesNotMatch(text, new RegExp(`tenant="(${b.id}|${c.id})"`))
    const requests = seriesOf(text, 'tenantry_http_requests_total').series
    const count = (label: string, cls: string): number => Number(requests.find((line) => line.includes(`tenant="${label}"`) && line.includes(`status_class="${cls}"`))?.split(' ').pop() ?? 0)
    assert.equal(count(a.id, '4xx'), 1, "a's own 401 under its label")
    assert.equal(count('other', '4xx'), 2_000, 'the flood under other, every request counted')
    // Authenticated traffic still ranks: b takes the second label.
    metrics.request(request(b))
    assert.deepEqual(new Set(metrics.labelledTenants()), new Set([a.id, b.id]))
  })

  it('counts limits, rejections, requests with no tenant, bounds the route label, and checks its options', async () => {
    const metrics = new TenantMetrics({ maxRoutes: 2 })
    const t = tenant(7)
    // Served first, so the tenant has a label its refusals are counted under (a 429 alone does not rank it).
    metrics.request(request(t, 200, '/a'))
    metrics.request(request(t, 429))
    metrics.request(request(t, 503))
    metrics.request(request(undefined, 404, '/x'))
    metrics.request(request(t, 200, '/b'))
    const text = await metrics.text()
    assert.match(text, new RegExp(`tenantry_rate_limited_total\\{tenant="${t.id}"\\} 1`))
    assert.match(text, new RegExp(`tenantry_bulkhead_rejected_total\\{tenant="${t.id}"\\} 1`))
    assert.match(text, /tenantry_http_requests_total\{tenant="none",method="GET",route="\/api\/projects",status_class="4xx"\} 1|tenantry_http_requests_total\{tenant="none",method="GET",route="[^"]*",status_class="4xx"\} 1/)
    assert.match(text, /route="other"/, 'routes past maxRoutes are "other"')
    metrics.migrationRun('ok')
    assert.match(await metrics.text(), /tenantry_migration_runs_total\{status="ok"\} 1/)
    assert.throws(() => metrics.migrationRun('Not OK!'), /status must be/)
    assert.throws(() => new TenantMetrics({ topTenants: 0 }), /topTenants/)
    assert.throws(() => new TenantMetrics({ prefix: 'bad-prefix' }), /prefix/)
  })

  it('reports the pool router at each scrape: per open database, and its running totals', async () => {
    let opens = 3
    const router = {
      stats: () => ({
        budget: 10, openConnections: 2, checkedOut: 1, waiters: 0, poolOpens: opens, connectionOpens: 5, connectFailures: 0, timeouts: 1,
        evictions: { idle: 2, lru: 1, budget: 0 },
        databases: [{ server: 'default', database: 'tenant_a', openConnections: 2, checkedOut: 1, waiters: 0 }],
      }),
    }
    const metrics = new TenantMetrics({ poolRouters: [router] })
    let text = await metrics.text()
    assert.match(text, /tenantry_pool_connections\{database="default\/tenant_a",state="open"\} 2/)
    assert.match(text, /tenantry_pool_opens_total 3/)
    assert.match(text, /tenantry_pool_evictions_total\{reason="idle"\} 2/)
    opens = 7
    text = await metrics.text()
    assert.match(text, /tenantry_pool_opens_total 7/)
  })
})

describe('TenantMetrics: jobs', () => {
  it('counts jobs by tenant, queue and outcome, times them, and puts system jobs under none', async () => {
    const metrics = new TenantMetrics()
    const acme: ScopedTenant = { id: randomUUID(), slug: 'acme', status: 'active', isolation: 'shared' }
    const jobs = new JobTenancy({ tenants: { getById: async (id) => (id === acme.id ? acme : undefined) }, observer: metrics.jobObserver() })
    const stored = runWithTenant(acme, () => jobs.envelope({}))
    await jobs.run(stored, () => 1, { queue: 'reports' })
    await jobs.run(stored, () => 1, { queue: 'reports' })
    await assert.rejects(jobs.run(stored, () => {
      throw new Error('x')
    }, { queue: 'reports' }))
    await jobs.run(jobs.systemEnvelope('roll-up', {}), () => 1, { queue: 'nightly' })
    const text = await metrics.text()
    assert.match(text, new RegExp(`tenantry_jobs_total\\{tenant="${acme.id}",queue="reports",outcome="completed"\\} 2`))
    assert.match(text, new RegExp(`tenantry_jobs_total\\{tenant="${acme.id}",queue="reports",outcome="failed"\\} 1`))
    assert.match(text, /tenantry_jobs_total\{tenant="none",queue="nightly",outcome="completed"\} 1/)
    assert.match(text, new RegExp(`tenantry_job_duration_seconds_count\\{tenant="${acme.id}",queue="reports"\\} 3`))
  })
})

for (const backend of testBackends()) {
  describe(`TenantMetrics' query observer on ${backend.name}`, () => {
    let database: TestDatabase
    let models: TestModels
    let data: TenantData
    const metrics = new TenantMetrics()
    const role = uniqueName('tm_app')
    const make = (slug: string, isolation: IsolationModelName): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation })
    const acme = make('acme', 'shared')

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query('create table projects (tenant_id uuid not null, id int generated always as identity, name text not null, primary key (tenant_id, id))')
      models = await openModels(backend, database, { role, shared: { tables: ['projects'] } })
      data = new TenantData({ shared: models.shared! }, { queryObserver: metrics.queryObserver() })
    })
    after(async () => {
      await models?.close()
      await dropRoles(database, [role])
      await database?.close()
    })

    it('counts and times every query of a tenant, by model and outcome, on each path (Kysely, pool.query, a client, withClient)', async () => {
      const db = data.kysely<{ projects: { tenant_id: string; id: number; name: string } }>()
      const pool = data.pool()
      await runWithTenant(acme, async () => {
        await db.insertInto('projects').values({ name: 'a' } as never).execute()
        await db.selectFrom('projects').selectAll().execute()
        await pool.query('select * from projects')
        const client = await pool.connect()
        try {
          await client.query('select 1')
        } finally {
          client.release()
        }
        await data.withClient((c) => c.query('select 2'))
        // Fails in the database (not an integer): counted as an error.
        await assert.rejects(db.selectFrom('projects').selectAll().where('id', '=', 'not a number' as never).execute())
        // Refused by the driver before it is sent (a hand-built statement, transaction control): an error too.
        const handBuilt = { sql: 'commit', parameters: [], query: { kind: 'RawNode', sqlFragments: ['commit'], parameters: [] } }
        await assert.rejects(db.executeQuery(handBuilt as never), (error: unknown) => isTenantryError(error))
      })
      const text = await metrics.text()
      assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${acme.id}",model="shared",outcome="ok"\\} 5`))
      assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${acme.id}",model="shared",outcome="error"\\} 2`))
      assert.match(text, new RegExp(`tenantry_query_duration_seconds_count\\{tenant="${acme.id}",model="shared"\\} 7`))
      // System-scope work is not a tenant's: not counted.
      const before = text
      await models.shared!.kysely().selectFrom('projects' as never).selectAll().execute().catch(() => undefined)
      assert.equal((await metrics.text()).match(/tenantry_queries_total\{[^}]*\} (\d+)/g)?.join(), before.match(/tenantry_queries_total\{[^}]*\} (\d+)/g)?.join())
    })

    it('keeps a query\'s answer, error and scope when an observer throws, gives each observer its own copy of the outcome, and tells observers the tenant, duration and outcome only (no SQL, no values)', async () => {
      const seen: QueryOutcome[] = []
      let starts = 0
      const observed = new TenantData({ shared: models.shared! }, {
        queryObserver: combineQueryObservers(
          { start: () => { starts++; throw new Error('observer bug in start') } },
          { start: () => ({ end() { throw new Error('observer bug in end') } }) },
          // One observer rewriting the outcome before the next reads it: its own copy, which the next never sees.
          { start: () => ({ end(outcome) { (outcome as { tenant: unknown }).tenant = { id: 'someone else', slug: 'x' } } }) },
          { start: () => ({ end: (outcome) => seen.push(outcome) }) },
        ),
      })
      const alone = new TenantData({ shared: models.shared! }, { queryObserver: { start: () => { throw new Error('observer bug') } } })
      for (const target of [observed, alone]) {
        const db = target.kysely<{ projects: { tenant_id: string; id: number; name: string } }>()
        await runWithTenant(acme, async () => {
          const rows = await db.selectFrom('projects').select('name').orderBy('id').execute()
          assert.deepEqual(rows.map((r) => r.name), ['a'])
          assert.equal((await target.pool().query('select count(*)::int as n from projects')).rows[0].n, 1)
          assert.deepEqual(await target.withClient(async (c) => (await c.query('select name from projects')).rows), [{ name: 'a' }])
          const failed = await db.selectFrom('projects').selectAll().where('id', '=', 'not a number' as never).execute().then(() => undefined, (error: unknown) => error)
          assert.equal((failed as { code?: string }).code, '22P02', 'the database\'s error, not the observer\'s')
        })
      }
      assert.ok(starts >= 4)
      assert.equal(seen.length, 4)
      for (const outcome of seen) {
        assert.deepEqual(Object.keys(outcome).sort(), ['durationMs', 'failed', 'tenant'])
        assert.equal(outcome.tenant.id, acme.id, 'the rewrite of the observer before it is not seen')
        assert.ok(outcome.durationMs >= 0)
      }
      assert.deepEqual(seen.map((o) => o.failed), [false, false, false, true])
    })
  })
}
