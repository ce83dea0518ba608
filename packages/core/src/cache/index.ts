/**
 * The tenant-scoped cache: the `CacheStore` contract, the in-memory store (an LRU
 * bounded by entries and bytes), `TenantCache` (get / set / delete / wrap on the
 * current tenant, O(1) flush) and the key encoding that keeps tenants apart.
 * See docs/cache.md.
 */
export type { CacheRead, CacheStore } from './contract.ts'
export { decodeKeyPart, encodeKeyPart } from './key-encoding.ts'
export { MemoryCacheStore, type MemoryCacheStoreOptions } from './memory-store.ts'
export { jsonCodec, TenantCache, type CacheCodec, type TenantCacheOptions, type CacheStats } from './tenant-cache.ts'
