import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MemoryRateLimitStore,
  RateLimiter,
  TenantBulkhead,
  TenantResolution,
  createTenantGate,
  currentTenant,
  headerResolver,
  isTenantryError,
  preparedRefusalOf,
  routeKey,
  runWithTenant,
  tenantAdmission,
  type RateLimitStore,
  type Tenant,
} from '@tenantry/core'

function tenant(id: string, plan = 'free'): Tenant {
  const at = new Date()
  return { id, slug: `t-${id.slice(0, 4)}`, name: 'T', status: 'active', plan, isolation: 'shared', placement: {}, settings: {}, createdAt: at, updatedAt: at }
}

const acme = tenant('0b5e4a4e-3d0c-4c55-9d8e-5a1c8f0e7a11')
const globex = tenant('7f1c2a9b-6e3d-4f21-8a5b-2c9d0e1f3a42')
const get = { method: 'GET', route: '/api/projects' }

const limiter = (limit: number): RateLimiter =>
  new RateLimiter({ store: new MemoryRateLimitStore(), plans: { default: { limit, windowMs: 60_000 } } })

describe('tenantAdmission', () => {
  it('admits with the rate-limit headers and a release for the bulkhead slot', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 0 })
    const admission = tenantAdmission({ limiter: limiter(10), bulkhead })
    const ticket = await admission.admit(acme, get)
    assert.equal(ticket.headers['RateLimit-Policy'], '"default";q=10;w=60')
    assert.match(ticket.headers.RateLimit as string, /^"default";r=9;t=\d+$/)
    await assert.rejects(admission.admit(acme, get), (e: unknown) => isTenantryError(e, 'OVERLOADED'))
    ticket.release()
    ticket.release()
    const again = await admission.admit(acme, get)
    again.release()
    assert.equal(bulkhead.stats().active, 0)
  })

  it('refuses over the limit with 429 RATE_LIMITED, Retry-After and the headers', async () => {
    const admission = tenantAdmission({ limiter: limiter(2) })
    ;(await admission.admit(acme, get)).release()
    ;(await admission.admit(acme, get)).release()
    await assert.rejects(admission.admit(acme, get), (e: unknown) => {
      if (!isTenantryError(e, 'RATE_LIMITED') || e.status !== 429) return false
      return Number(e.headers['Retry-After']) >= 1 && /r=0/.test(e.headers.RateLimit ?? '') && e.headers['RateLimit-Policy'] !== undefined
    })
    assert.ok(await admission.admit(globex, get), 'another tenant is not limited')
  })

  it('answers 503 OVERLOADED with Retry-After and the rate-limit headers when the bulkhead is full', async () => {
    const admission = tenantAdmission({ limiter: limiter(100), bulkhead: new TenantBulkhead({ maxConcurrent: 1, maxQueue: 0 }) })
    const held = await admission.admit(acme, get)
    await assert.rejects(admission.admit(acme, get), (e: unknown) =>
      isTenantryError(e, 'OVERLOADED') && e.status === 503 && e.headers['Retry-After'] === '1' && e.headers['RateLimit-Policy'] !== undefined,
    )
    const other = await admission.admit(globex, get)
    other.release()
    held.release()
  })

  it('charges routes by a cost table or a function', async () => {
    const byTable = tenantAdmission({ limiter: limiter(10), costOf: { 'POST /api/exports': 6, '/api/reports': 3 } })
    assert.match((await byTable.admit(acme, { method: 'post', route: '/api/exports' })).headers.RateLimit as string, /r=4;/)
    assert.match((await byTable.admit(acme, { method: 'GET', route: '/api/reports' })).headers.RateLimit as string, /r=1;/)
    assert.match((await byTable.admit(acme, get)).headers.RateLimit as string, /r=0;/)
    const byFunction = tenantAdmission({ limiter: limiter(10), costOf: (request) => (request.method === 'GET' ? 0 : 5) })
    assert.match((await byFunction.admit(acme, get)).headers.RateLimit as string, /r=10;/)
    assert.match((await byFunction.admit(acme, { method: 'DELETE', route: '/x' })).headers.RateLimit as string, /r=5;/)
  })

  it('charges a listed route whatever its case or trailing slash (Express and Hono admit the raw path, and their routers take it): /api/Exports/ costs what /api/exports costs', async () => {
    const table = { 'POST /api/exports': 4, '/API/Reports/': 3 }
    const cases = [['POST', '/api/exports', 6], ['POST', '/api/Exports', 6], ['post', '/API/EXPORTS/', 6], ['GET', '/api/reports//', 7], ['GET', '/api/Reports', 7], ['GET', '/api/other', 9]] as const
    for (const [method, route, left] of cases) {
      const admission = tenantAdmission({ limiter: limiter(10), costOf: table })
      const ticket = await admission.admit(acme, { method, route })
      assert.match(ticket.headers.RateLimit as string, new RegExp(`r=${left};`), `${method} ${route}`)
      ticket.release()
    }
    assert.equal(routeKey('/api/Exports/'), '/api/exports')
    assert.equal(routeKey('/'), '/')
    assert.equal(routeKey('//'), '/')
  })

  it('works with a bulkhead alone, sending no rate-limit headers', async () => {
    const admission = tenantAdmission({ bulkhead: new TenantBulkhead() })
    const ticket = await admission.admit(acme, get)
    assert.deepEqual(ticket.headers, {})
    ticket.release()
  })

  it('refuses to be built with nothing to enforce or a bad cost table', () => {
    assert.throws(() => tenantAdmission({}), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => tenantAdmission({ limiter: limiter(1), costOf: { 'GET /': -1 } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
})

describe('refusals known in this process (a store elsewhere: the limiter\'s local deny list)', () => {
  /** An asynchronous store over the in-memory one, as Redis is. */
  const remote = (): RateLimitStore & { calls: number } => {
    const inner = new MemoryRateLimitStore()
    const store = { calls: 0, consume: (...args: Parameters<RateLimitStore['consume']>) => {
      store.calls++
      return Promise.resolve(inner.consumeNow(...args))
    } }
    return store
  }
  const overLimit = async (costOf?: Parameters<typeof tenantAdmission>[0]['costOf']) => {
    const limiter = new RateLimiter({ store: remote(), plans: { default: { limit: 1, windowMs: 60_000 } } })
    const admission = tenantAdmission(costOf === undefined ? { limiter } : { limiter, costOf })
    ;(await admission.admit(acme, get)).release()
    await assert.rejects(admission.admit(acme, get), (e: unknown) => isTenantryError(e, 'RATE_LIMITED') && preparedRefusalOf(e) !== undefined)
    return { admission, limiter }
  }

  it('tenantAdmission answers refusal() from the limiter, at the route\'s cost (a free route is not refused)', async () => {
    const { admission } = await overLimit({ 'GET /api/health': 0 })
    assert.equal(admission.refusal?.(acme, get)?.status, 429)
    assert.equal(admission.refusal?.(acme, { method: 'GET', route: '/api/health' }), undefined)
    assert.equal(admission.refusal?.(globex, get), undefined)
  })

  it('the HTTP gate refuses such a tenant right after resolution: no authentication, no admission', async () => {
    const { admission, limiter } = await overLimit()
    const directory = { getBySlug: async (slug: string) => [acme, globex].find((t) => t.slug === slug), getById: async () => undefined, getByDomain: async () => undefined }
    let authenticated = 0
    const gate = createTenantGate({
      resolution: new TenantResolution({ resolvers: [headerResolver()], directory }),
      authenticate: async () => { authenticated++ },
      admission,
    }, 'test')
    const request = { host: 'localhost', path: '/api/projects', headers: { 'x-tenant-id': acme.slug } }
    const checks = limiter.stats().checks
    await assert.rejects(gate.pass(request, get), (e: unknown) => isTenantryError(e, 'RATE_LIMITED') && preparedRefusalOf(e)?.status === 429)
    assert.equal(authenticated, 0)
    assert.equal(gate.refusal(await gate.resolve(request), get)?.status, 429)
    assert.equal(limiter.stats().checks, checks + 2, 'each refusal counted once, as a local refusal')
    const other = await gate.pass({ ...request, headers: { 'x-tenant-id': globex.slug } }, get)
    assert.equal(other.tenant.id, globex.id)
    assert.equal(authenticated, 1)
    other.release()
  })
})

describe('the gate\'s resolved tenant', () => {
  it('is the deep-frozen copy its scope holds, one object for observers, admission and the handler: an observer cannot lift a rate limit or swap the tenant', async () => {
    // A directory handing out a fresh record with mutable settings each time (as a catalog without a cache does).
    const fresh = (): Tenant => ({ ...acme, settings: {} as Record<string, unknown> })
    const directory = { getBySlug: async () => fresh(), getById: async () => undefined, getByDomain: async () => undefined }
    const rewriting = { start: () => ({
      tenant(t: Tenant) {
        ;(t.settings as Record<string, unknown>).rateLimit = { limit: 1_000_000 }
        ;(t as { id: string }).id = globex.id
      },
      end() {},
    }) }
    const planLimited = new RateLimiter({ store: new MemoryRateLimitStore(), plans: { free: { limit: 2, windowMs: 60_000 } }, defaultPlan: 'free' })
    const gate = createTenantGate({ resolution: new TenantResolution({ resolvers: [headerResolver()], directory }), admission: tenantAdmission({ limiter: planLimited }), observer: rewriting }, 'test')
    const request = { host: 'localhost', path: '/api/projects', headers: { 'x-tenant-id': acme.slug } }
    let admitted = 0
    for (let i = 0; i < 5; i++) {
      const handle = gate.observe(get)
      const resolved = await gate.resolve(request)
      assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.settings), 'frozen, its settings too')
      handle?.setTenant(resolved)
      assert.equal(resolved.id, acme.id)
      assert.deepEqual(resolved.settings, {})
      assert.equal(runWithTenant(resolved, () => currentTenant()), resolved, 'the very object the scope holds')
      try {
        ;(await gate.admit(request, resolved, get)).release()
        admitted++
      } catch (error) {
        assert.ok(isTenantryError(error, 'RATE_LIMITED'))
      }
      handle?.end(200)
    }
    assert.equal(admitted, 2, 'the plan\'s limit held')
    const passed = await gate.pass(request, get).catch((e: unknown) => e)
    assert.ok(isTenantryError(passed, 'RATE_LIMITED'))
  })

  it('is refused as the deployment error it is when the directory hands out something a scope cannot hold', async () => {
    const directory = { getBySlug: async () => ({ ...acme, settings: { callback: () => undefined } }), getById: async () => undefined, getByDomain: async () => undefined }
    const gate = createTenantGate({ resolution: new TenantResolution({ resolvers: [headerResolver()], directory }) }, 'test')
    await assert.rejects(gate.resolve({ host: 'localhost', path: '/', headers: { 'x-tenant-id': acme.slug } }), (e: unknown) => isTenantryError(e, 'INTERNAL') && /TenantResolution/.test((e as Error).message))
  })
})
