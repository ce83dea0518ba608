/**
 * The Redis rate-limit store: the sliding-window counter of `@tenantry/core` in
 * Lua, one EVALSHA per check, on Redis's clock, Cluster-safe. See docs/limits.md.
 */
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './redis-store.ts'
export { SLIDING_WINDOW_LUA } from './sliding-window.lua.ts'
