/**
 * @tenantry/redis: the rate-limit store (Lua, one round trip), the tenant cache and
 * catalog-cache invalidation over pub/sub, on Redis and Redis Cluster.
 */
export * from './connection/index.ts'
export * from './ratelimit/index.ts'
export * from './cache/index.ts'
export * from './invalidation/index.ts'
