import { LRUCache } from 'lru-cache'
import { validationError, type ValidationIssue } from '../errors/index.ts'
import { checkNonNegativeInteger, checkPositiveInteger } from '../fair-share/tenant.ts'
import type { RateLimitDecision, RateLimitStore, RateLimitTarget, SlidingWindow } from './contract.ts'
import { decide, firstCountedSlot, slotLength, type SlotCount } from './sliding-window.ts'

export interface MemoryRateLimitStoreOptions {
  /**
   * Most counters kept (one per tenant, bucket and window). Past it the least
   * recently checked counter is dropped, which forgets what that tenant spent.
   */
  readonly maxKeys?: number
  /** How often counters whose window has passed are swept (0: never; they still go by LRU). */
  readonly sweepIntervalMs?: number
  /** The clock, in ms since the epoch (tests pass a fake one). */
  readonly now?: () => number
}

/**
 * Rate-limit counters in this process's memory: for one instance, tests and
 * development. Several instances each count on their own (use the Redis store
 * to share a limit). Bounded by `maxKeys`; counters expire with their window and
 * are swept in the background.
 *
 * @example
 * const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans: { default: { limit: 100, windowMs: 60_000 } } })
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #counters: LRUCache<string, SlotCount[]>
  readonly #now: () => number
  readonly #sweeper: NodeJS.Timeout | undefined

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const { maxKeys = 100_000, sweepIntervalMs = 30_000, now = Date.now } = options
    const issues: ValidationIssue[] = []
    checkPositiveInteger(maxKeys, 'options.maxKeys', issues)
    checkNonNegativeInteger(sweepIntervalMs, 'options.sweepIntervalMs', issues)
    if (typeof now !== 'function') issues.push({ path: 'options.now', message: 'must be a function returning ms' })
    if (issues.length > 0) throw validationError(issues)
    this.#now = now
    // TTL is per entry (the window's span) and checked lazily; the sweeper
    // frees what nobody asks for again.
    this.#counters = new LRUCache<string, SlotCount[]>({ max: maxKeys, ttlAutopurge: false, ttlResolution: 0, perf: { now } })
    if (sweepIntervalMs > 0) {
      this.#sweeper = setInterval(() => this.#counters.purgeStale(), sweepIntervalMs)
      this.#sweeper.unref()
    }
  }

  async consume(target: RateLimitTarget, window: SlidingWindow, cost: number): Promise<RateLimitDecision> {
    return this.consumeNow(target, window, cost)
  }

  /** The same decision without a promise (the limiter's fast path uses `consume`). */
  consumeNow(target: RateLimitTarget, window: SlidingWindow, cost: number): RateLimitDecision {
    const now = this.#now()
    const key = counterKey(target, window)
    const first = firstCountedSlot(now, window)
    let counted = this.#counters.get(key)
    if (counted === undefined) counted = []
    else {
      let drop = 0
      while (drop < counted.length && (counted[drop] as SlotCount).slot < first) drop++
      if (drop > 0) counted.splice(0, drop)
    }
    const decision = decide(counted, now, window, cost)
    if (decision.allowed && cost > 0) {
      const g = slotLength(window)
      // Alive until every slot counted now has left the window.
      this.#counters.set(key, counted, { ttl: (Math.floor(now / g) + window.slots + 1) * g - now })
    }
    return decision
  }

  /** Counters currently held (expired ones not yet swept included). */
  get size(): number {
    return this.#counters.size
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper)
    this.#counters.clear()
  }
}

// Length-prefixed, so no tenant id or bucket name can be read as another pair.
function counterKey(target: RateLimitTarget, window: SlidingWindow): string {
  return `${target.tenantId.length}:${target.tenantId}${target.bucket.length}:${target.bucket}|${window.windowMs}|${window.slots}`
}
