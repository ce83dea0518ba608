/**
 * The rate-limit store contract. A store keeps, per tenant and bucket, the units
 * spent in the current sliding window and decides a check in one atomic step;
 * the in-memory store (`MemoryRateLimitStore`) and the Redis store
 * (`RedisRateLimitStore` in `@tenantry/redis`) implement the same algorithm
 * (see `sliding-window.ts` and docs/limits.md).
 */

/** Whose counter: one per tenant and bucket (`'default'` unless a limiter names one). */
export interface RateLimitTarget {
  readonly tenantId: string
  readonly bucket: string
}

/** The window a check is decided against. */
export interface SlidingWindow {
  /** Units allowed in any `windowMs` (a request costs 1 unless a cost is given). */
  readonly limit: number
  readonly windowMs: number
  /**
   * Sub-windows the window is counted in. More slots: a tighter window (units stop
   * counting at most `windowMs / slots` late), more state per tenant.
   */
  readonly slots: number
}

/** A store's answer to one check. */
export interface RateLimitDecision {
  readonly allowed: boolean
  readonly limit: number
  /** Units still available right after this check. */
  readonly remaining: number
  /** Ms until some spent units stop counting and `remaining` grows (0: nothing counted). */
  readonly resetMs: number
  /** Ms until a request of the same cost would be allowed (0 when allowed). */
  readonly retryAfterMs: number
  /** When the store decided, in ms since the epoch by the store's clock (Redis: `TIME`). */
  readonly at: number
}

/**
 * Where rate-limit counters live. `consume` adds `cost` units to the target's
 * window if they fit under the limit and answers the decision, atomically: two
 * concurrent checks (two processes, on one Redis) never both take the last unit.
 *
 * @example
 * class MyStore implements RateLimitStore {
 *   async consume(target, window, cost) { return decide(...) }
 * }
 */
export interface RateLimitStore {
  consume(target: RateLimitTarget, window: SlidingWindow, cost: number): Promise<RateLimitDecision>
  /**
   * Optional synchronous `consume`, for stores in this process's memory: the
   * limiter then calls it directly, with no timeout guard (it cannot hang).
   */
  consumeNow?(target: RateLimitTarget, window: SlidingWindow, cost: number): RateLimitDecision
  /** Frees timers and connections the store owns (not a client it was given). */
  close?(): Promise<void>
}
