/**
 * The tenant-cache store contract. A store keeps string values under
 * (tenant, key) for a TTL and a generation per tenant: `flush(tenantId)` starts a
 * new generation in O(1), after which the tenant's older entries are never read
 * again (they expire by TTL or are swept). `TenantCache` is the API for
 * application code; it encodes keys and values and picks the tenant from context.
 */

/** What a read found, and the generation it read in (hand it back to `write`). */
export interface CacheRead {
  readonly value: string | undefined
  readonly generation: string
}

/**
 * Where tenant-cache entries live: `MemoryCacheStore` (an LRU bounded by entries
 * and bytes) or `RedisCacheStore` (`@tenantry/redis`). Every method is scoped by
 * `tenantId`, and a store must keep tenants apart whatever the key holds.
 *
 * @example
 * const { value, generation } = await store.read(tenantId, 'projects%3A42')
 * if (value === undefined) await store.write(tenantId, 'projects%3A42', json, 60_000, generation)
 */
export interface CacheStore {
  read(tenantId: string, key: string): Promise<CacheRead>
  /**
   * Stores `value` for `ttlMs`. With `generation` (from a read), the write is
   * dropped, answering false, when the tenant was flushed since: a value loaded
   * before a flush must not outlive it.
   */
  write(tenantId: string, key: string, value: string, ttlMs: number, generation?: string): Promise<boolean>
  delete(tenantId: string, key: string): Promise<void>
  /** Starts a new generation for the tenant (O(1)); answers it. */
  flush(tenantId: string): Promise<string>
  /** Frees timers and connections the store owns (not a client it was given). */
  close?(): Promise<void>
}
