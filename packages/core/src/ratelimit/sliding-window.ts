import type { RateLimitDecision, SlidingWindow } from './contract.ts'

/**
 * The sliding-window counter with sub-windows ("slots") that every Tenantry
 * store implements (the Redis store in Lua, line for line the same).
 *
 * Time is cut into slots of `g = ceil(windowMs / slots)` ms; slot `k` holds the
 * units spent in `[k*g, (k+1)*g)`. A check at `now` (in slot `K`) counts slots
 * `K - slots .. K`: those `slots + 1` slots cover at least the last `slots * g >=
 * windowMs` ms. The request is allowed when its cost fits under the limit in
 * that sum, and its cost is added to slot `K`.
 *
 * Error bound: never more than `limit` units in any interval of `windowMs` (the
 * counted span always covers the interval, so there is no over-admission, unlike
 * a two-window estimate). It errs on the strict side only: a unit keeps counting
 * for between `slots * g` and `(slots + 1) * g` ms after it was spent, that is at
 * most `g` (about `windowMs / slots`) longer than the window. With the default of
 * 10 slots a client pacing itself at exactly the limit sees up to 10% less.
 */

/** Length of one slot in ms. */
export function slotLength(window: SlidingWindow): number {
  return Math.ceil(window.windowMs / window.slots)
}

/** Units spent in one slot. `slot` is the slot's number, `floor(time / g)`. */
export interface SlotCount {
  readonly slot: number
  count: number
}

/**
 * Decides one check against the counted slots (oldest first, stale ones already
 * dropped) and, when allowed, adds the cost to `counted` (appending the current
 * slot if needed). Pure apart from that mutation; the Lua script does the same.
 */
export function decide(counted: SlotCount[], now: number, window: SlidingWindow, cost: number): RateLimitDecision {
  const g = slotLength(window)
  const n = window.slots
  const current = Math.floor(now / g)
  let sum = 0
  for (const s of counted) sum += s.count
  let allowed = false
  let retryAfterMs = 0
  if (cost <= window.limit - sum) {
    allowed = true
    if (cost > 0) {
      const last = counted[counted.length - 1]
      if (last !== undefined && last.slot === current) last.count += cost
      else counted.push({ slot: current, count: cost })
      sum += cost
    }
  } else if (cost > window.limit) {
    // Never fits: answer the time until everything counted now has left.
    retryAfterMs = (current + n + 1) * g - now
  } else {
    let freed = 0
    for (const s of counted) {
      freed += s.count
      if (sum - freed + cost <= window.limit) {
        retryAfterMs = (s.slot + n + 1) * g - now
        break
      }
    }
  }
  const oldest = counted[0]
  return {
    allowed,
    limit: window.limit,
    remaining: Math.max(0, window.limit - sum),
    resetMs: oldest === undefined ? 0 : (oldest.slot + n + 1) * g - now,
    retryAfterMs,
    at: now,
  }
}

/** The first slot still counted at `now`. */
export function firstCountedSlot(now: number, window: SlidingWindow): number {
  return Math.floor(now / slotLength(window)) - window.slots
}
