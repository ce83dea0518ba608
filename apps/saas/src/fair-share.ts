/**
 * The reference SaaS's default fair share: a rate limit per plan (a tenant may
 * override it in `settings.rateLimit`) and a concurrency bulkhead per tenant.
 * Counters live in Redis with REDIS_URL (shared by every instance), in memory
 * otherwise. See docs/limits.md and docs/bulkheads.md.
 */
import { MemoryRateLimitStore, RateLimiter, TenantBulkhead, tenantAdmission, type RateLimitStore, type TenantAdmission } from '@tenantry/core'

/** Requests per minute by plan. */
export const planLimits = {
  free: { limit: 600, windowMs: 60_000 },
  pro: { limit: 6_000, windowMs: 60_000 },
  enterprise: { limit: 60_000, windowMs: 60_000 },
} as const

export interface DefaultAdmission {
  readonly admission: TenantAdmission
  close(): Promise<void>
}

/**
 * Builds the default admission; with `redisUrl`, its counters are in Redis
 * (failing open, with a warning, when Redis is down: docs/limits.md).
 *
 * @example
 * const { admission, close } = await defaultAdmission({ redisUrl: process.env.REDIS_URL })
 */
export async function defaultAdmission(options: { readonly redisUrl?: string | undefined }): Promise<DefaultAdmission> {
  let store: RateLimitStore = new MemoryRateLimitStore()
  let close = async (): Promise<void> => {}
  if (options.redisUrl !== undefined) {
    // Loaded only with REDIS_URL, like the cache invalidation.
    const { RedisRateLimitStore, connectRedis } = await import('@tenantry/redis')
    const redis = await connectRedis({ url: options.redisUrl })
    store = new RedisRateLimitStore({ redis })
    close = async () => { await redis.quit().catch(() => redis.disconnect()) }
  }
  const admission = tenantAdmission({
    limiter: new RateLimiter({ store, plans: planLimits, defaultPlan: 'free' }),
    // 4 at once: one tenant can never hold the whole shared/schema pool (10 connections).
    bulkhead: new TenantBulkhead({ maxConcurrent: 4, maxQueue: 16, queueTimeoutMs: 2_000 }),
  })
  return { admission, close }
}
