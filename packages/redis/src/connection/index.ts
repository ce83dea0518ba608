/**
 * Redis connections for Tenantry: `connectRedis` (plain or Cluster, tuned for
 * rate limits and caches), `LuaScript` (EVALSHA with NOSCRIPT recovery) and the
 * tenant key layout `<prefix>:{<tenant id>}:…` (one Cluster slot per tenant).
 */
export { connectRedis, type RedisClient, type RedisClusterOptions, type RedisUrlOptions } from './client.ts'
export { LuaScript } from './lua-script.ts'
export { checkKeyPrefix, DEFAULT_KEY_PREFIX, hashTagOf, tenantKey } from './keys.ts'
