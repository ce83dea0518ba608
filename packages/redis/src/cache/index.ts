/**
 * The Redis tenant-cache store: generation-per-tenant keys under the tenant's
 * hash tag, one EVALSHA per call, O(1) flush. See docs/cache.md.
 */
export { RedisCacheStore, type RedisCacheStoreOptions } from './redis-store.ts'
