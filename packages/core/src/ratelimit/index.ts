/**
 * Per-tenant rate limits: the `RateLimitStore` contract, the sliding-window
 * algorithm every store implements, the in-memory store, the `RateLimiter`
 * (plans, per-tenant overrides, failure behaviour) and the IETF headers.
 * See docs/limits.md.
 */
export type { RateLimitDecision, RateLimitStore, RateLimitTarget, SlidingWindow } from './contract.ts'
export { decide, firstCountedSlot, slotLength, type SlotCount } from './sliding-window.ts'
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './memory-store.ts'
export { MAX_SLOTS, MAX_WINDOW_MS, type RateLimitPlan, type RateLimitPolicy } from './policy.ts'
export {
  RateLimiter,
  rateLimitedError,
  type CheckOptions,
  type RateLimiterOptions,
  type RateLimiterStats,
  type RateLimitResult,
  type StoreErrorMode,
} from './rate-limiter.ts'
export { rateLimitHeader, rateLimitPolicyHeader, retryAfterHeader, sfString } from './headers.ts'
