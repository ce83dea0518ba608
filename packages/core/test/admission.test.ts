import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MemoryRateLimitStore,
  RateLimiter,
  TenantBulkhead,
  isTenantryError,
  tenantAdmission,
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
