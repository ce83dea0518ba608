import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  MemoryRateLimitStore,
  RateLimiter,
  isTenantryError,
  preparedRefusalOf,
  rateLimitedError,
  slotLength,
  type FairShareLogger,
  type RateLimitDecision,
  type RateLimitStore,
  type SlidingWindow,
} from '@tenantry/core'

const acme = { id: '0b5e4a4e-3d0c-4c55-9d8e-5a1c8f0e7a11', plan: 'free', settings: {} }
const globex = { id: '7f1c2a9b-6e3d-4f21-8a5b-2c9d0e1f3a42', plan: 'pro', settings: {} }

function fakeClock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void; set(ms: number): void } {
  let t = start
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) }
}

function recordingLogger(): FairShareLogger & { lines: string[] } {
  const lines: string[] = []
  return { lines, warn: (_details, message) => void lines.push(message) }
}

const target = { tenantId: acme.id, bucket: 'default' }

describe('sliding window (in-memory store)', () => {
  it('allows the limit, then refuses with the time until the oldest units leave', () => {
    const clock = fakeClock(1_000_000)
    const store = new MemoryRateLimitStore({ now: clock.now })
    const window: SlidingWindow = { limit: 3, windowMs: 1000, slots: 10 }
    const remaining: number[] = []
    for (let i = 0; i < 3; i++) {
      const d = store.consumeNow(target, window, 1)
      assert.equal(d.allowed, true)
      remaining.push(d.remaining)
      clock.advance(100)
    }
    assert.deepEqual(remaining, [2, 1, 0])
    const refused = store.consumeNow(target, window, 1)
    assert.equal(refused.allowed, false)
    assert.equal(refused.remaining, 0)
    // The first unit was spent at 1_000_000 (slot 10_000); it stops counting when
    // slot 10_000 + 10 + 1 begins: 1_001_100. Now is 1_000_300.
    assert.equal(refused.retryAfterMs, 800)
    assert.equal(refused.resetMs, 800)
    clock.advance(799)
    assert.equal(store.consumeNow(target, window, 1).allowed, false)
    clock.advance(1)
    assert.equal(store.consumeNow(target, window, 1).allowed, true)
  })

  it('counts a cost, refuses a cost that does not fit while a smaller one still does', () => {
    const clock = fakeClock(5_000_000)
    const store = new MemoryRateLimitStore({ now: clock.now })
    const window: SlidingWindow = { limit: 10, windowMs: 1000, slots: 10 }
    assert.equal(store.consumeNow(target, window, 7).remaining, 3)
    const big = store.consumeNow(target, window, 5)
    assert.equal(big.allowed, false)
    assert.equal(big.remaining, 3)
    assert.ok(big.retryAfterMs > 0)
    assert.equal(store.consumeNow(target, window, 3).allowed, true)
    const never = store.consumeNow(target, window, 11)
    assert.equal(never.allowed, false, 'a cost above the limit never fits')
    assert.ok(never.retryAfterMs > 0)
  })

  it('keeps tenants, buckets and windows apart', () => {
    const store = new MemoryRateLimitStore({ now: fakeClock().now })
    const window: SlidingWindow = { limit: 1, windowMs: 60_000, slots: 10 }
    assert.equal(store.consumeNow(target, window, 1).allowed, true)
    assert.equal(store.consumeNow(target, window, 1).allowed, false)
    assert.equal(store.consumeNow({ tenantId: globex.id, bucket: 'default' }, window, 1).allowed, true)
    assert.equal(store.consumeNow({ tenantId: acme.id, bucket: 'exports' }, window, 1).allowed, true)
    assert.equal(store.consumeNow(target, { ...window, windowMs: 30_000 }, 1).allowed, true)
  })

  it('never admits more than the limit in any window, and refuses only when the last window plus one slot is full (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 10, max: 5000 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 400 }), cost: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 200 }),
        (limit, windowMs, slots, requests) => {
          const clock = fakeClock(1_000_000_000)
          const store = new MemoryRateLimitStore({ now: clock.now, sweepIntervalMs: 0, maxKeys: 10 })
          const window: SlidingWindow = { limit, windowMs, slots }
          const g = slotLength(window)
          const admitted: { at: number; cost: number }[] = []
          for (const { gap, cost } of requests) {
            clock.advance(gap)
            const now = clock.now()
            const d = store.consumeNow(target, window, cost)
            const inWindow = (span: number): number => admitted.filter((a) => a.at > now - span).reduce((s, a) => s + a.cost, 0)
            if (d.allowed) {
              admitted.push({ at: now, cost })
              // No over-admission: the units in the last windowMs (this one included) fit the limit.
              assert.ok(inWindow(windowMs) <= limit, `over the limit at ${now}`)
            } else {
              // Strict by at most one slot: what was spent in the last (slots + 1) * g ms leaves no room.
              assert.ok(inWindow((slots + 1) * g) + cost > limit, `refused with room at ${now}`)
              assert.ok(d.retryAfterMs > 0)
            }
            assert.equal(d.remaining, Math.max(0, limit - [...admitted].filter((a) => a.at >= (Math.floor(now / g) - slots) * g).reduce((s, a) => s + a.cost, 0)))
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('is bounded by maxKeys', () => {
    const store = new MemoryRateLimitStore({ maxKeys: 5, now: fakeClock().now })
    const window: SlidingWindow = { limit: 5, windowMs: 1000, slots: 10 }
    for (let i = 0; i < 20; i++) store.consumeNow({ tenantId: `t${i}`, bucket: 'default' }, window, 1)
    assert.equal(store.size, 5)
  })
})

describe('RateLimiter', () => {
  const plans = { default: { limit: 2, windowMs: 60_000 }, pro: { limit: 5, windowMs: 60_000 } }

  it('applies the plan, the default plan for an unknown one, and a per-tenant override from settings', async () => {
    const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans })
    assert.deepEqual(pick(limiter.policyFor(globex)), { name: 'pro', limit: 5, windowMs: 60_000, source: 'plan' })
    assert.deepEqual(pick(limiter.policyFor(acme)), { name: 'default', limit: 2, windowMs: 60_000, source: 'plan' })
    const vip = { ...acme, settings: { rateLimit: { limit: 50 } } }
    assert.deepEqual(pick(limiter.policyFor(vip)), { name: 'default', limit: 50, windowMs: 60_000, source: 'tenant' })
    const results = [await limiter.check(acme), await limiter.check(acme), await limiter.check(acme)]
    assert.deepEqual(results.map((r) => r.allowed), [true, true, false])
  })

  it('ignores a malformed override with one warning per tenant', async () => {
    const logger = recordingLogger()
    const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans, logger })
    const odd = { ...acme, settings: { rateLimit: { limit: -1 } } }
    for (let i = 0; i < 3; i++) assert.equal(limiter.policyFor(odd).limit, 2)
    assert.equal(logger.lines.length, 1)
  })

  it('sends the draft-11 headers on every answer, and Retry-After (not earlier than t) when refused', async () => {
    const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans: { default: { limit: 2, windowMs: 10_000 } } })
    const first = await limiter.check(acme)
    assert.equal(first.headers['RateLimit-Policy'], '"default";q=2;w=10')
    assert.match(first.headers.RateLimit as string, /^"default";r=1;t=(10|11)$/)
    assert.equal(first.headers['Retry-After'], undefined)
    await limiter.check(acme)
    const refused = await limiter.check(acme)
    assert.equal(refused.allowed, false)
    const t = Number(/;t=(\d+)$/.exec(refused.headers.RateLimit as string)?.[1])
    const retry = Number(refused.headers['Retry-After'])
    assert.match(refused.headers.RateLimit as string, /^"default";r=0;t=\d+$/)
    assert.ok(retry >= 1 && retry >= t, `Retry-After ${retry} vs t ${t}`)
    const error = rateLimitedError(refused)
    assert.equal(error.code, 'RATE_LIMITED')
    assert.equal(error.status, 429)
    assert.equal(error.headers['Retry-After'], refused.headers['Retry-After'])
    await assert.rejects(limiter.consume(acme), (e: unknown) => isTenantryError(e, 'RATE_LIMITED'))
  })

  it('names the bucket in the policy and counts buckets apart', async () => {
    const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans: { default: { limit: 1, windowMs: 1000 } }, bucket: 'exports' })
    const r = await limiter.check(acme)
    assert.equal(r.headers['RateLimit-Policy'], '"default/exports";q=1;w=1')
    assert.equal((await limiter.check(acme, { bucket: 'other' })).allowed, true)
  })

  it('fails open on a store error with one warning and counters, skipping the store during the cooldown', async () => {
    const logger = recordingLogger()
    const store = failingStore()
    const limiter = new RateLimiter({ store, plans, logger, cooldownMs: 60_000 })
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.check(acme)))
    assert.ok(results.every((r) => r.allowed && r.degraded))
    // Both headers on every admitted response (docs/reference-saas.md): nothing was counted, so the full quota, reset now.
    assert.equal(results[0]?.headers['RateLimit-Policy'], '"default";q=2;w=60')
    assert.equal(results[0]?.headers.RateLimit, '"default";r=2;t=0')
    assert.equal(store.calls, 50, 'checks already in flight when the store failed each asked it')
    for (let i = 0; i < 50; i++) assert.equal((await limiter.check(acme)).degraded, true)
    assert.equal(store.calls, 50, 'later checks skip the store during the cooldown')
    assert.equal(limiter.stats().failedOpen, 100)
    assert.equal(limiter.stats().store.skipped, 50)
    assert.equal(logger.lines.length, 1, logger.lines.join('\n'))
  })

  it('fails closed when configured: RATE_LIMITED with Retry-After', async () => {
    const limiter = new RateLimiter({ store: failingStore(), plans, onStoreError: 'closed', closedRetryAfterMs: 2000 })
    const result = await limiter.check(acme)
    assert.equal(result.allowed, false)
    assert.equal(result.headers['Retry-After'], '2')
    assert.equal(limiter.stats().failedClosed, 1)
    await assert.rejects(limiter.consume(acme), (e: unknown) => isTenantryError(e, 'RATE_LIMITED') && e.headers['Retry-After'] === '2')
  })

  it('treats a store slower than timeoutMs as failed', async () => {
    const hanging: RateLimitStore = { consume: () => new Promise<RateLimitDecision>(() => {}) }
    const limiter = new RateLimiter({ store: hanging, plans, timeoutMs: 20 })
    const result = await limiter.check(acme)
    assert.equal(result.degraded, true)
    assert.equal(result.allowed, true)
    assert.equal(limiter.stats().store.timeouts, 1)
  })

  it('asks the store again after the cooldown and recovers', async () => {
    const store = failingStore()
    const limiter = new RateLimiter({ store, plans, cooldownMs: 30 })
    assert.equal((await limiter.check(acme)).degraded, true)
    store.healthy = true
    assert.equal((await limiter.check(acme)).degraded, true, 'still cooling down')
    await new Promise((r) => setTimeout(r, 40))
    const back = await limiter.check(acme)
    assert.equal(back.degraded, false)
    assert.equal(back.remaining, 1)
  })

  describe('the local deny list (a store elsewhere, such as Redis)', () => {
    /** An asynchronous store over the in-memory one, counting what it is asked. */
    const remote = () => {
      const inner = new MemoryRateLimitStore()
      const store = { calls: 0, consume: (t: Parameters<RateLimitStore['consume']>[0], w: SlidingWindow, cost: number) => {
        store.calls++
        return Promise.resolve(inner.consumeNow(t, w, cost))
      } }
      return store
    }
    const tight = { default: { limit: 2, windowMs: 300 } }

    it('refuses a tenant the store refused until the store\'s retry time, without asking it again; other tenants still ask', async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: tight })
      assert.equal((await limiter.check(acme)).allowed, true)
      assert.equal((await limiter.check(acme)).allowed, true)
      const refused = await limiter.check(acme)
      assert.equal(refused.allowed, false)
      assert.equal(store.calls, 3)
      let previous = refused.retryAfterMs
      for (let i = 0; i < 5; i++) {
        const again = await limiter.check(acme)
        assert.equal(again.allowed, false)
        assert.ok(again.retryAfterMs > 0 && again.retryAfterMs <= previous, 'the time left only shrinks')
        assert.equal(again.headers['Retry-After'], String(Math.max(1, Math.ceil(again.retryAfterMs / 1000))))
        assert.throws(() => { throw rateLimitedError(again) }, (e: unknown) => isTenantryError(e, 'RATE_LIMITED'))
        previous = again.retryAfterMs
      }
      assert.equal(store.calls, 3, 'no store round trip for a tenant known to be over its limit')
      assert.equal(limiter.stats().refusedLocally, 5)
      assert.equal(limiter.stats().refused, 6)
      assert.equal((await limiter.check(globex)).allowed, true)
      assert.equal(store.calls, 4)
      // A look (cost 0) still asks the store.
      await limiter.check(acme, { cost: 0 })
      assert.equal(store.calls, 5)
      await new Promise((r) => setTimeout(r, previous + 30))
      assert.equal((await limiter.check(acme)).allowed, true, 'after the retry time the store decides again')
      assert.equal(store.calls, 6)
    })

    it('never admits more than the store would: over a second of traffic, as many admitted with it as without it', async () => {
      const run = async (localDeny: boolean) => {
        const limiter = new RateLimiter({ store: remote(), plans: tight, localDeny })
        let admitted = 0
        const until = Date.now() + 1000
        while (Date.now() < until) {
          if ((await limiter.check(acme)).allowed) admitted++
          await new Promise((r) => setTimeout(r, 5))
        }
        return admitted
      }
      const [withList, without] = await Promise.all([run(true), run(false)])
      // 2 per 300 ms sliding window: at most 2 × (1000 / 300 + 1) in any second, whatever the list does.
      assert.ok(withList <= 10 && without <= 10, `${withList} / ${without}`)
      assert.ok(withList >= 4, `the list refuses only until the store's retry time: ${withList} admitted`)
    })

    it('refuses locally only what is as big as the refused request: after one over the limit, a small request asks the store and is admitted', async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: tight })
      const huge = await limiter.check(acme, { cost: 5 })
      assert.equal(huge.allowed, false, 'cost 5 never fits a limit of 2')
      assert.equal(limiter.refusal(acme), undefined, 'no pre-refusal of a cost-1 request')
      assert.equal((await limiter.check(acme)).allowed, true, 'the shared limit has room: the store admits it')
      assert.equal(store.calls, 2)
      assert.equal((await limiter.check(acme, { cost: 5 })).allowed, false)
      assert.equal(store.calls, 2, 'a request as big as the refused one is refused here')
      assert.equal(limiter.stats().refusedLocally, 1)
    })

    it('asks the store again when the tenant\'s policy changed (a raised limit), and is off with localDeny: false', async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: tight })
      for (let i = 0; i < 3; i++) await limiter.check(acme)
      const raised = { ...acme, settings: { rateLimit: { limit: 10 } } }
      assert.equal((await limiter.check(raised)).allowed, true)
      assert.equal(store.calls, 4)
      const off = remote()
      const plain = new RateLimiter({ store: off, plans: tight, localDeny: false })
      for (let i = 0; i < 5; i++) await plain.check(acme)
      assert.equal(off.calls, 5)
      assert.equal(plain.stats().refusedLocally, 0)
    })

    it('answers refusal() from the list alone: the 429 check() would give, prepared once and shared, counted as a local refusal', async () => {
      // A still clock: the seconds left cannot change between the answers compared.
      const store = remote()
      const limiter = new RateLimiter({ store, plans: { default: { limit: 1, windowMs: 60_000 } }, monotonicNow: () => 1_000 })
      assert.equal(limiter.refusal(acme), undefined, 'nothing on the list yet')
      await limiter.check(acme)
      const fromStore = await limiter.check(acme)
      assert.equal(fromStore.allowed, false)
      const refusal = limiter.refusal(acme)
      assert.ok(refusal)
      assert.equal(store.calls, 2, 'refusal() never asks the store')
      assert.equal(refusal.status, 429)
      assert.equal(refusal.code, 'RATE_LIMITED')
      const retry = refusal.headers['Retry-After'] as string
      assert.deepEqual(Object.keys(refusal.headers), ['RateLimit-Policy', 'RateLimit', 'Retry-After'])
      assert.equal(refusal.headers['RateLimit-Policy'], '"default";q=1;w=60')
      assert.match(refusal.headers.RateLimit as string, /^"default";r=0;t=\d+$/)
      assert.equal(refusal.body, `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded: 1 per 60 s; retry in ${retry} s"}}`)
      // What check() answers from the list, and rateLimitedError's answer, are the same bytes.
      const checked = await limiter.check(acme)
      assert.deepEqual({ ...checked.headers }, { ...refusal.headers })
      assert.equal(preparedRefusalOf(rateLimitedError(checked))?.body, refusal.body)
      assert.equal(limiter.refusal(acme), refusal, 'the same prepared answer while the seconds left do not change')
      assert.ok(Object.isFrozen(refusal.headers))
      const stats = limiter.stats()
      assert.deepEqual({ checks: stats.checks, refused: stats.refused, refusedLocally: stats.refusedLocally }, { checks: 5, refused: 4, refusedLocally: 3 })
      assert.equal(store.calls, 2)
    })

    it("with earlyRefusal: 'retry-after', answers refusal() with Retry-After alone: no plan name, limit or count for a caller not yet authenticated", async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: { secret_gold: { limit: 1, windowMs: 60_000 } }, defaultPlan: 'secret_gold', monotonicNow: () => 1_000, earlyRefusal: 'retry-after' })
      await limiter.check(acme)
      const fromStore = await limiter.check(acme)
      assert.equal(fromStore.allowed, false)
      assert.ok(fromStore.headers['RateLimit-Policy'], 'check() still sends the full headers')
      const refusal = limiter.refusal(acme)
      assert.ok(refusal)
      assert.deepEqual(Object.keys(refusal.headers), ['Retry-After'])
      assert.equal(refusal.status, 429)
      assert.doesNotMatch(refusal.body, /secret_gold|per 60/)
      assert.match(refusal.body, /^\{"error":\{"code":"RATE_LIMITED","message":"Rate limit exceeded; retry in \d+ s"\}\}$/)
      assert.throws(() => new RateLimiter({ store, plans: { default: { limit: 1, windowMs: 1000 } }, earlyRefusal: 'none' as never }), /earlyRefusal/)
    })

    it('has no refusal() for a look, another tenant or bucket, a changed policy, the in-memory store or localDeny: false', async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: tight })
      for (let i = 0; i < 3; i++) await limiter.check(acme)
      assert.ok(limiter.refusal(acme))
      assert.equal(limiter.refusal(acme, { cost: 0 }), undefined)
      assert.equal(limiter.refusal(globex), undefined)
      assert.equal(limiter.refusal(acme, { bucket: 'exports' }), undefined)
      assert.equal(limiter.refusal({ ...acme, settings: { rateLimit: { limit: 10 } } }), undefined)
      const local = new RateLimiter({ store: new MemoryRateLimitStore(), plans: tight })
      for (let i = 0; i < 3; i++) await local.check(acme)
      assert.equal(local.refusal(acme), undefined, 'the in-memory store is asked directly')
      const off = new RateLimiter({ store: remote(), plans: tight, localDeny: false })
      for (let i = 0; i < 3; i++) await off.check(acme)
      assert.equal(off.refusal(acme), undefined)
      await new Promise((r) => setTimeout(r, 330))
      assert.equal(limiter.refusal(acme), undefined, 'over once the store\'s retry time has passed')
    })

    it('runs the list on a monotonic clock: a wall clock stepped back an hour does not stretch a refusal', async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 })
      const store = remote()
      const limiter = new RateLimiter({ store, plans: tight })
      for (let i = 0; i < 3; i++) await limiter.check(acme)
      assert.ok(limiter.refusal(acme), 'on the list')
      t.mock.timers.setTime(1_700_000_000_000 - 3_600_000)
      await new Promise((r) => setTimeout(r, 330))
      assert.equal(limiter.refusal(acme), undefined, 'over once the store\'s retry time has passed, whatever the wall clock says')
      assert.throws(() => new RateLimiter({ store, plans, monotonicNow: 5 as unknown as () => number }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    })

    it('holds at most localDenyMax refusals, forgetting the oldest', async () => {
      const store = remote()
      const limiter = new RateLimiter({ store, plans: { default: { limit: 1, windowMs: 60_000 } }, localDenyMax: 2 })
      const tenants = ['a', 'b', 'c'].map((x) => ({ id: `${x}0000000-0000-4000-8000-000000000000` }))
      for (const t of tenants) {
        await limiter.check(t)
        await limiter.check(t)
      }
      const before = store.calls
      await limiter.check(tenants[1]!)
      await limiter.check(tenants[2]!)
      assert.equal(store.calls, before, 'b and c are on the list')
      await limiter.check(tenants[0]!)
      assert.equal(store.calls, before + 1, 'a was forgotten')
      assert.throws(() => new RateLimiter({ store, plans, localDenyMax: 0 }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    })
  })

  it('refuses bad options at construction, listing every problem', () => {
    assert.throws(
      () => new RateLimiter({ store: {} as RateLimitStore, plans: { free: { limit: 0, windowMs: 1000 } }, slots: 0, onStoreError: 'maybe' as 'open' }),
      (e: unknown) => {
        if (!isTenantryError(e, 'VALIDATION_FAILED')) return false
        const paths = (e.details as { path: string }[]).map((i) => i.path)
        return ['options.store', 'options.plans.free.limit', 'options.plans', 'options.slots', 'options.onStoreError'].every((p) => paths.includes(p))
      },
    )
  })

  it('refuses a negative cost and a tenant without an id', async () => {
    const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans })
    await assert.rejects(limiter.check(acme, { cost: -1 }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    await assert.rejects(limiter.check({ id: '' }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
})

function pick(policy: { name: string; limit: number; windowMs: number; source: string }): object {
  return { name: policy.name, limit: policy.limit, windowMs: policy.windowMs, source: policy.source }
}

function failingStore(): RateLimitStore & { calls: number; healthy: boolean } {
  const inner = new MemoryRateLimitStore()
  const store = {
    calls: 0,
    healthy: false,
    async consume(...args: Parameters<RateLimitStore['consume']>): Promise<RateLimitDecision> {
      store.calls++
      if (!store.healthy) throw new Error('connect ECONNREFUSED 127.0.0.1:6379')
      return inner.consume(...args)
    },
  }
  return store
}
