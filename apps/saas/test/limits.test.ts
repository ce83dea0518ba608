/**
 * The reference SaaS's default fair share (what `npm start` runs with): rate-limit
 * headers on every tenant response, a plan limit a tenant's settings can lower,
 * 429 RATE_LIMITED with Retry-After when it is spent, other tenants untouched.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { testBackends, codeOf } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

for (const backend of testBackends()) {
  describe(`default rate limits of the reference SaaS on ${backend.name}`, () => {
    let s: SaasUnderTest
    let acme: string
    let globex: string
    before(async () => {
      s = await startSaasUnderTest(backend, { admission: 'default' })
      acme = await s.keyFor('acme')
      globex = await s.keyFor('globex')
    })
    after(async () => {
      await s.close()
    })

    it('sends RateLimit-Policy and RateLimit on every tenant response', async () => {
      const answer = await s.call('/api/me', { host: 'acme', key: acme })
      assert.equal(answer.status, 200)
      assert.match(String(answer.headers['ratelimit-policy']), /^"free";q=600;w=60/)
      assert.match(String(answer.headers.ratelimit), /^"free";r=\d+;t=\d+/)
    })

    it('answers 429 RATE_LIMITED with Retry-After once a tenant spends its limit, and only that tenant', async () => {
      const patched = await s.admin('/tenants/acme', { method: 'PATCH', body: { settings: { rateLimit: { limit: 3, windowMs: 60_000 } } } })
      assert.equal(patched.status, 200, patched.text)
      const statuses: number[] = []
      let last
      for (let i = 0; i < 5; i++) {
        last = await s.call('/api/projects', { host: 'acme', key: acme })
        statuses.push(last.status)
      }
      assert.deepEqual(statuses.slice(-2), [429, 429], `statuses ${statuses.join(', ')}`)
      assert.ok(statuses.filter((x) => x === 200).length <= 3)
      assert.equal(codeOf(last!), 'RATE_LIMITED')
      assert.ok(Number(last!.headers['retry-after']) >= 1)
      assert.match(String(last!.headers['ratelimit-policy']), /q=3;w=60/)
      const other = await s.call('/api/projects', { host: 'globex', key: globex })
      assert.equal(other.status, 200)
    })
  })
}

describe('default bulkhead of the reference SaaS', () => {
  it('runs at most 4 requests of a tenant at once (under the 10-connection pool), queues 16 more, refuses the rest', async () => {
    const { isTenantryError } = await import('@tenantry/core')
    const { createTenantry } = await import('tenantry')
    const { saasTenantryConfig } = await import('../src/tenantry-config.ts')
    // The SaaS's own limits config, on a throwaway in-memory database.
    const tenantry = await createTenantry({ ...saasTenantryConfig({ databaseUrl: undefined, dataDir: 'memory', baseDomain: 'localhost' }), models: { shared: { tables: ['projects', 'tasks'] } } })
    const admission = tenantry.admission!
    const close = () => tenantry.close()
    const tenant = { id: 'bulkhead-test-tenant', slug: 'bulkheadtest', name: 'B', status: 'active', plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: new Date(), updatedAt: new Date() } as const
    const granted: { release(): void }[] = []
    const refused: unknown[] = []
    const pending = Array.from({ length: 21 }, () =>
      admission.admit(tenant as never, { method: 'GET', route: '/api/projects' }).then((t) => { granted.push(t) }, (e: unknown) => { refused.push(e) }))
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(granted.length, 4, 'running at once')
    assert.equal(refused.length, 1, 'beyond 4 running and 16 waiting')
    assert.ok(isTenantryError(refused[0], 'OVERLOADED'))
    // Each release lets one waiter in; all 20 get through.
    let released = 0
    for (let spins = 0; released < 20 && spins < 10_000; spins++) {
      const t = granted.shift()
      if (t !== undefined) {
        t.release()
        released++
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(pending)
    assert.equal(released, 20)
    await close()
  })
})
