/**
 * TenantLabels: the tenant label of per-tenant metrics, bounded whatever the
 * number of tenants: the busiest k keep their own, the rest are `other`; a
 * tenant that goes quiet loses its label, and the metrics backend is told.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isTenantryError, TenantLabels } from '@tenantry/core'

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0
  return { now: () => t, advance: (ms) => { t += ms } }
}

/** A deterministic stream of tenant ids: `heavy` tenants send `factor` times the traffic of the rest. */
function* traffic(tenants: number, heavy: number, factor: number, requests: number): Generator<string> {
  let seed = 42
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const heavyShare = (heavy * factor) / (heavy * factor + (tenants - heavy))
  for (let i = 0; i < requests; i++) {
    yield random() < heavyShare ? `heavy-${Math.floor(random() * heavy)}` : `t-${Math.floor(random() * (tenants - heavy))}`
  }
}

describe('TenantLabels', () => {
  it('keeps the series of every metric at most k + 1 with 10,000 tenants, the heavy ones labeled, every eviction reported', () => {
    const c = clock()
    const series = new Set<string>()
    let peak = 0
    const evicted: string[] = []
    const labels = new TenantLabels({ k: 50, now: c.now, halfLifeMs: 60_000, onEvict: (id) => { evicted.push(id); series.delete(id) } })
    let n = 0
    for (const tenant of traffic(10_000, 20, 200, 200_000)) {
      const label = labels.label(tenant)
      assert.ok(label === tenant || label === TenantLabels.OTHER)
      series.add(label)
      peak = Math.max(peak, series.size)
      if (++n % 100 === 0) c.advance(10)
    }
    assert.ok(peak <= 51, `series at once: ${peak}`)
    assert.equal(labels.labeled().length, 50)
    assert.deepEqual([...series].filter((s) => s !== TenantLabels.OTHER).sort(), labels.labeled().sort(), 'the series left are exactly the labeled tenants')
    const labeled = new Set(labels.labeled())
    for (let h = 0; h < 20; h++) assert.ok(labeled.has(`heavy-${h}`), `heavy-${h} keeps its label`)
    assert.ok(evicted.length > 0, 'light tenants that took the first labels gave them up')
  })

  it('takes the label of a tenant that went quiet, and tells the metrics backend', () => {
    const c = clock()
    const evicted: string[] = []
    const labels = new TenantLabels({ k: 2, now: c.now, halfLifeMs: 1000, onEvict: (id) => evicted.push(id) })
    for (let i = 0; i < 100; i++) {
      labels.label('a')
      labels.label('b')
    }
    assert.equal(labels.label('c'), TenantLabels.OTHER, 'c has less traffic than a and b')
    // a goes quiet; b and c go on.
    for (let s = 0; s < 10; s++) {
      c.advance(1000)
      for (let i = 0; i < 50; i++) {
        labels.label('b')
        labels.label('c')
      }
    }
    assert.deepEqual(labels.labeled().sort(), ['b', 'c'])
    assert.deepEqual(evicted, ['a'])
    // Two tenants of about the same traffic do not swap labels on every request.
    const before = evicted.length
    for (let i = 0; i < 1000; i++) {
      labels.label('b')
      labels.label('c')
      labels.label('d')
    }
    assert.ok(evicted.length - before <= 1, `swaps among tenants of the same traffic: ${evicted.length - before}`)
  })

  it('ranks the same after hundreds of half-lives (the counts are scaled back, never overflow)', () => {
    const c = clock()
    const evicted: string[] = []
    const labels = new TenantLabels({ k: 2, now: c.now, halfLifeMs: 1000, onEvict: (id) => evicted.push(id) })
    // 1,100 half-lives of a and b: a unit of traffic would weigh 2^1100 (Infinity) without scaling back.
    for (let s = 0; s < 1100; s++) {
      c.advance(1000)
      for (let i = 0; i < 10; i++) {
        labels.label('a')
        labels.label('b')
      }
    }
    assert.deepEqual(labels.labeled().sort(), ['a', 'b'])
    assert.equal(labels.label('c'), TenantLabels.OTHER, 'one request of c is not enough')
    // Then a goes quiet and c takes its label within a few half-lives, as on the first day.
    let took = -1
    for (let s = 0; s < 20 && took < 0; s++) {
      c.advance(1000)
      for (let i = 0; i < 10; i++) {
        labels.label('b')
        if (labels.label('c') === 'c' && took < 0) took = s
      }
    }
    assert.ok(took >= 0 && took <= 5, `c took a's label after ${took} half-lives`)
    assert.deepEqual(evicted, ['a'])
    assert.deepEqual(labels.labeled().sort(), ['b', 'c'])
  })

  it('refuses bad options, listing every problem', () => {
    assert.throws(() => new TenantLabels({ k: 0, candidates: -1, halfLifeMs: 0, now: 1 as unknown as () => number, onEvict: 'x' as unknown as () => void }), (e: unknown) => {
      assert.ok(isTenantryError(e, 'VALIDATION_FAILED'))
      assert.deepEqual((e.details as { path: string }[]).map((d) => d.path).sort(), ['options.candidates', 'options.halfLifeMs', 'options.k', 'options.now', 'options.onEvict'])
      return true
    })
  })
})
