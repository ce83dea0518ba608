/**
 * LiveView: a per-tenant window of the last minutes for the console. Counts,
 * error rate, limit hits and rejections exactly; latency percentiles within
 * the histogram's bound; buckets that age out of the window leave it; at most
 * maxTenants tenants, the least recently seen dropped; bounded memory at
 * 10,000 tenants.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isTenantryError, LiveView } from '@tenantry/core'

function clock(start = 1_800_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

/** The exact q-th percentile of `values` (nearest rank). */
function exact(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
}

describe('LiveView', () => {
  it('counts a tenant\'s requests, errors, limit hits and rejections, and its latency percentiles within ±19 %', () => {
    const c = clock()
    const live = new LiveView({ now: c.now })
    const durations: number[] = []
    for (let i = 0; i < 1000; i++) {
      const durationMs = 0.4 + ((i * 7919) % 1000) * 0.37   // 0.4 … 370 ms, spread
      durations.push(durationMs)
      live.record('acme', { durationMs, status: i % 50 === 0 ? 503 : i % 10 === 0 ? 429 : 200, limited: i % 10 === 0 && i % 50 !== 0, rejected: i % 50 === 0 })
    }
    live.record('globex', { durationMs: 5, status: 200 })
    const acme = live.summary('acme')!
    assert.equal(acme.requests, 1000)
    assert.equal(acme.errors, 20)
    assert.equal(acme.errorRate, 0.02)
    assert.equal(acme.limitHits, 80)
    assert.equal(acme.rejections, 20)
    assert.equal(acme.perSecond, 1000 / 300)
    for (const [q, got] of [[0.5, acme.p50Ms], [0.95, acme.p95Ms], [0.99, acme.p99Ms]] as const) {
      const want = exact(durations, q)
      assert.ok(Math.abs(got - want) / want <= 0.19, `p${q * 100}: ${got} against ${want}`)
    }
    assert.equal(live.summary('globex')!.requests, 1)
    assert.equal(live.fleet().requests, 1001)
    assert.equal(live.fleet().tenantId, '*')
    assert.equal(live.summary('nobody'), undefined)
  })

  it('counts every request exactly across batches, and refuses bad input or a failing clock without losing the rest', () => {
    const c = clock()
    let fail = false
    const live = new LiveView({ now: () => {
      if (fail) {
        fail = false
        throw new Error('clock broke')
      }
      return c.now()
    } })
    for (let i = 0; i < 1000; i++) {
      if (i === 255 || i === 700) fail = true
      if (i === 255 || i === 700) assert.throws(() => live.record('a', { durationMs: 1, status: 200 }), /clock broke/)
      else live.record('a', { durationMs: 1, status: i % 10 === 0 ? 500 : 200 })
      if (i === 400) assert.equal(live.summary('a')?.requests, 400, 'a read in the middle sees every request before it')
    }
    assert.equal(live.summary('a')?.requests, 998)
    assert.equal(live.summary('a')?.errors, 99, 'every tenth a 5xx, but the 700th, refused')
    assert.equal(live.fleet().requests, 998)
    for (const [tenantId, request] of [[1, { durationMs: 1, status: 200 }], ['a', null], ['a', 'x']] as const) {
      assert.throws(() => live.record(tenantId as unknown as string, request as unknown as { durationMs: number; status: number }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
    live.record('a', { durationMs: 1, status: 200 })
    assert.equal(live.summary('a')?.requests, 999, 'refused input lost nothing else')
  })

  it('reads a request when it is recorded: changing the request object afterwards changes nothing counted', () => {
    const c = clock()
    const live = new LiveView({ now: c.now })
    const request = { durationMs: 1, status: 200, limited: false, rejected: false }
    live.record('a', request)
    Object.assign(request, { durationMs: 9_000, status: 503, limited: true, rejected: true })
    const summary = live.summary('a')
    assert.deepEqual([summary?.requests, summary?.errors, summary?.limitHits, summary?.rejections], [1, 0, 0, 0])
    assert.ok((summary?.p99Ms ?? Number.NaN) < 2, String(summary?.p99Ms))
  })

  it('lets buckets age out of the window, and shows every bucket of it oldest first', () => {
    const c = clock(1_800_000_000_000 - (1_800_000_000_000 % 30_000))
    const live = new LiveView({ now: c.now, windowMs: 60_000, bucketMs: 30_000 })
    live.record('acme', { durationMs: 10, status: 200 })
    c.advance(30_000)
    live.record('acme', { durationMs: 100, status: 500 })
    live.record('acme', { durationMs: 100, status: 200 })
    const series = live.series('acme')
    assert.deepEqual(series.map((p) => [p.at, p.requests, p.errors]), [[c.now() - 30_000, 1, 0], [c.now(), 2, 1]])
    assert.equal(live.summary('acme')!.requests, 3)
    c.advance(30_000)
    assert.equal(live.summary('acme')!.requests, 2, 'the first bucket left the window')
    c.advance(30_000)
    const gone = live.summary('acme')!
    assert.equal(gone.requests, 0)
    assert.ok(Number.isNaN(gone.p99Ms))
    assert.deepEqual(live.series('acme').map((p) => p.requests), [0, 0])
    live.record('acme', { durationMs: 1, status: 200 })
    assert.equal(live.summary('acme')!.requests, 1, 'a reused slot starts from zero')
  })

  it('keeps at most maxTenants, dropping the one seen least recently, and ranks tenants by any figure', () => {
    const c = clock()
    const live = new LiveView({ now: c.now, maxTenants: 3 })
    live.record('a', { durationMs: 1, status: 200 })
    live.record('b', { durationMs: 900, status: 500 })
    live.record('b', { durationMs: 900, status: 200 })
    live.record('c', { durationMs: 5, status: 200, limited: true })
    c.advance(30_000)
    live.record('a', { durationMs: 1, status: 200 })   // a is now the most recently seen
    live.record('d', { durationMs: 1, status: 200 })   // b, the least recently seen, goes
    assert.equal(live.size, 3)
    assert.equal(live.summary('b'), undefined)
    assert.deepEqual(live.top('requests', 2).map((s) => s.tenantId), ['a', 'c'], 'a has 2; c and d 1 each, in the order seen')
    assert.deepEqual(live.top('limitHits', 1).map((s) => s.tenantId), ['c'])
    assert.deepEqual(live.top('p99Ms', 3).map((s) => s.tenantId)[0], 'c')
  })

  it('holds 10,000 tenants in about 1.8 KB each of typed arrays, and refuses bad options listing every problem', () => {
    const c = clock()
    const before = process.memoryUsage().arrayBuffers
    const live = new LiveView({ now: c.now })
    for (let i = 0; i < 10_000; i++) live.record(`tenant-${i}`, { durationMs: i % 300, status: 200 })
    const bytes = process.memoryUsage().arrayBuffers - before
    assert.equal(live.size, 10_000)
    // 10 buckets x (8-byte slot + 4 counters + 40 histogram bins of 4 bytes) = 1,840 bytes a tenant; V8 keeps the
    // smallest arrays on its heap, so at least the histograms (1,600 bytes) show here.
    assert.ok(bytes >= 10_000 * 1_600 && bytes < 10_000 * 2_500, `typed arrays for 10,000 tenants: ${bytes} bytes`)
    assert.throws(() => new LiveView({ windowMs: 1000, bucketMs: 300, maxTenants: 0, now: 5 as unknown as () => number }), (e: unknown) => {
      assert.ok(isTenantryError(e, 'VALIDATION_FAILED'))
      assert.deepEqual((e.details as { path: string }[]).map((d) => d.path).sort(), ['options.maxTenants', 'options.now', 'options.windowMs'])
      return true
    })
  })
})
