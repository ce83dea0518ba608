/**
 * `GET /metrics` of the reference SaaS (DESIGN §6): Prometheus text on the bare
 * host behind the admin token, with the library's per-tenant request, query,
 * limit and latency series; and the live view fed by the same observers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { codeOf, testBackends } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

for (const backend of testBackends()) {
  describe(`GET /metrics of the reference SaaS on ${backend.name}`, () => {
    let s: SaasUnderTest
    before(async () => {
      s = await startSaasUnderTest(backend, { admission: 'default' })
    })
    after(async () => {
      await s?.close()
    })

    it('needs the admin token on the bare host: 401 without it, 404 on a tenant\'s host', async () => {
      const anonymous = await s.call('/metrics')
      assert.equal(anonymous.status, 401)
      assert.equal(codeOf(anonymous), 'UNAUTHENTICATED')
      const wrong = await s.call('/metrics', { key: 'not-the-token' })
      assert.equal(wrong.status, 401)
      const onTenant = await s.call('/metrics', { host: 'acme', key: s.adminToken })
      assert.equal(onTenant.status, 404)
    })

    it('serves requests, latency, queries (by model) and rate-limit refusals by tenant, in the Prometheus text format', async () => {
      const acme = await s.keyFor('acme')
      const globex = await s.keyFor('globex')
      const acmeId = (await s.admin('/tenants/acme')).body.id as string
      const globexTenant = (await s.admin('/tenants/globex')).body as { id: string; isolation: string }
      assert.equal((await s.call('/api/projects', { host: 'acme', key: acme })).status, 200)
      assert.equal((await s.call('/api/projects', { method: 'POST', host: 'globex', key: globex, body: { name: 'Metered' } })).status, 201)
      const patched = await s.admin('/tenants/acme', { method: 'PATCH', body: { settings: { rateLimit: { limit: 2, windowMs: 60_000 } } } })
      assert.equal(patched.status, 200, patched.text)
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) statuses.push((await s.call('/api/projects', { host: 'acme', key: acme })).status)
      assert.ok(statuses.includes(429), statuses.join())
      await new Promise((resolve) => setTimeout(resolve, 50))
      const answer = await s.call('/metrics', { key: s.adminToken })
      assert.equal(answer.status, 200)
      assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/)
      const text = answer.text
      assert.match(text, new RegExp(`tenantry_http_requests_total\\{tenant="${acmeId}",method="GET",route="/api/projects",status_class="2xx"\\} [1-9]`))
      assert.match(text, new RegExp(`tenantry_http_requests_total\\{tenant="${acmeId}",method="GET",route="/api/projects",status_class="4xx"\\} [1-9]`))
      assert.match(text, new RegExp(`tenantry_rate_limited_total\\{tenant="${acmeId}"\\} [1-9]`))
      assert.match(text, new RegExp(`tenantry_http_request_duration_seconds_count\\{tenant="${acmeId}"\\} [1-9]`))
      assert.match(text, new RegExp(`tenantry_queries_total\\{tenant="${globexTenant.id}",model="${globexTenant.isolation}",outcome="ok"\\} [1-9]`))
      assert.match(text, /tenantry_migration_runs_total\{status="ok"\} 1/, 'the start\'s fleet run')
      assert.match(text, new RegExp(`tenantry_tenant_info\\{tenant="${acmeId}",slug="acme",isolation="[a-z]+"\\} 1`))
      // The admin API and /metrics itself are not tenant traffic.
      assert.doesNotMatch(text, /route="\/admin|route="\/metrics/)
      // The live view saw the same requests.
      const live = s.saas.observability!.live.summary(acmeId)
      assert.ok(live !== undefined && live.requests >= 5 && live.limitHits >= 1, JSON.stringify(live))
    })
  })
}
