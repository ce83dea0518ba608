import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TenantBulkhead, isTenantryError, type BulkheadPermit } from '@tenantry/core'

const acme = { id: '0b5e4a4e-3d0c-4c55-9d8e-5a1c8f0e7a11', plan: 'free', settings: {} }
const globex = { id: '7f1c2a9b-6e3d-4f21-8a5b-2c9d0e1f3a42', plan: 'pro', settings: {} }

function isOverloaded(e: unknown): boolean {
  return isTenantryError(e, 'OVERLOADED') && e.status === 503 && Number(e.headers['Retry-After']) >= 1
}

/** Resolves with 'pending' when `promise` has not settled after the current turn. */
async function state(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    promise.then(() => 'resolved' as const, () => 'rejected' as const),
    new Promise<'pending'>((r) => setImmediate(() => r('pending'))),
  ])
}

describe('TenantBulkhead', () => {
  it('admits up to maxConcurrent at once, queues the next ones and hands slots over first come, first served', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 10_000 })
    const a = await bulkhead.acquire(acme)
    const b = await bulkhead.acquire(acme)
    const order: string[] = []
    const c = bulkhead.acquire(acme).then((p) => (order.push('c'), p))
    const d = bulkhead.acquire(acme).then((p) => (order.push('d'), p))
    assert.equal(await state(c), 'pending')
    assert.deepEqual(pickStats(bulkhead), { tenants: 1, active: 2, queued: 2 })
    a.release()
    const pc = await c
    assert.equal(await state(d), 'pending')
    b.release()
    const pd = await d
    assert.deepEqual(order, ['c', 'd'])
    pc.release()
    pd.release()
    assert.deepEqual(pickStats(bulkhead), { tenants: 0, active: 0, queued: 0 })
  })

  it('answers OVERLOADED with Retry-After at once when the queue is full', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 10_000, retryAfterMs: 2500 })
    const held = await bulkhead.acquire(acme)
    const queued = bulkhead.acquire(acme)
    await assert.rejects(bulkhead.acquire(acme), (e: unknown) => isOverloaded(e) && (e as { headers: Record<string, string> }).headers['Retry-After'] === '3')
    held.release()
    ;(await queued).release()
    assert.equal(bulkhead.stats().rejected, 1)
  })

  it('answers OVERLOADED when no slot frees within queueTimeoutMs', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 30 })
    const held = await bulkhead.acquire(acme)
    await assert.rejects(bulkhead.acquire(acme), isOverloaded)
    assert.equal(bulkhead.stats().timedOut, 1)
    assert.equal(bulkhead.stats().queued, 0)
    held.release()
    assert.equal(bulkhead.stats().tenants, 0)
  })

  it('keeps admitting another tenant at once while one tenant is saturated', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 2, maxQueue: 3, queueTimeoutMs: 10_000 })
    const held = [await bulkhead.acquire(acme), await bulkhead.acquire(acme)]
    const waiting = [bulkhead.acquire(acme), bulkhead.acquire(acme), bulkhead.acquire(acme)]
    await assert.rejects(bulkhead.acquire(acme), isOverloaded)
    const other = bulkhead.acquire(globex)
    assert.equal(await state(other), 'resolved', 'globex is admitted without waiting')
    ;(await other).release()
    for (const p of held) p.release()
    for (const w of waiting) (await w).release()
  })

  it('releases idempotently: a second release frees nothing', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 2, queueTimeoutMs: 10_000 })
    const first = await bulkhead.acquire(acme)
    const second = bulkhead.acquire(acme)
    const third = bulkhead.acquire(acme)
    first.release()
    first.release()
    const p2 = await second
    assert.equal(await state(third), 'pending', 'the double release did not give away a second slot')
    p2.release()
    ;(await third).release()
    assert.equal(bulkhead.stats().active, 0)
  })

  it('takes an aborted request out of the queue', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 10_000 })
    const held = await bulkhead.acquire(acme)
    const controller = new AbortController()
    const gone = bulkhead.acquire(acme, { signal: controller.signal })
    controller.abort()
    await assert.rejects(gone, isOverloaded)
    const next = bulkhead.acquire(acme)
    assert.equal(await state(next), 'pending', 'the freed queue place was taken')
    held.release()
    ;(await next).release()
  })

  it('applies plan limits and a per-tenant override from settings', async () => {
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 0, plans: { pro: { maxConcurrent: 3 } } })
    assert.deepEqual(bulkhead.limitsFor(acme), { maxConcurrent: 1, maxQueue: 0 })
    assert.deepEqual(bulkhead.limitsFor(globex), { maxConcurrent: 3, maxQueue: 0 })
    assert.deepEqual(bulkhead.limitsFor({ ...acme, settings: { bulkhead: { maxConcurrent: 7 } } }), { maxConcurrent: 7, maxQueue: 0 })
    const permits: BulkheadPermit[] = []
    for (let i = 0; i < 3; i++) permits.push(await bulkhead.acquire(globex))
    await assert.rejects(bulkhead.acquire(globex), isOverloaded)
    for (const p of permits) p.release()
  })

  it('refuses bad options at construction', () => {
    assert.throws(() => new TenantBulkhead({ maxConcurrent: 0, maxQueue: -1, queueTimeoutMs: -5 }), (e: unknown) => {
      if (!isTenantryError(e, 'VALIDATION_FAILED')) return false
      const paths = (e.details as { path: string }[]).map((i) => i.path)
      return ['options.maxConcurrent', 'options.maxQueue', 'options.queueTimeoutMs'].every((p) => paths.includes(p))
    })
  })
})

function pickStats(bulkhead: TenantBulkhead): object {
  const s = bulkhead.stats()
  return { tenants: s.tenants, active: s.active, queued: s.queued }
}
