/** An in-process LRU in front of the tenant directory: every request resolves a tenant, few change. */
import { LRUCache } from 'lru-cache'
import type { Tenant } from '../tenant/model.ts'
import { positiveInteger } from './cache-options.ts'
import type { TenantDirectory } from './resolution.ts'

export interface CachedTenantDirectoryOptions {
  /** How long a found tenant is served from memory; default 30 000 ms. Invalidation cuts it short. */
  readonly ttlMs?: number
  /** How long "no such tenant" is remembered; default 5 000 ms, so a probe storm cannot reach the catalog. */
  readonly negativeTtlMs?: number
  /** Most entries kept (each identifier is one entry); default 10 000. */
  readonly max?: number
}

/** Counters since construction (or the last `resetStats`). */
export interface TenantCacheStats {
  readonly hits: number
  readonly negativeHits: number
  readonly misses: number
  /** Lookups that reached the source (misses that joined an in-flight lookup are not counted). */
  readonly loads: number
  readonly size: number
}

interface Entry<T> {
  readonly tenant: T | undefined
}

/**
 * A `TenantDirectory` that caches another one (usually the catalog): LRU with a
 * TTL, negative caching with a shorter TTL, and single-flight, so a thousand
 * concurrent requests for an uncached tenant make one catalog query. A tenant
 * found by slug is also cached under its id (and the other way round).
 *
 * Invalidate on change (`invalidateTenant` on suspend/delete, `invalidateSlug`
 * when a slug is created, `invalidateDomain` when a domain moves); a lookup that
 * was in flight when the invalidation came is answered but not stored, so it
 * cannot put the old state back. For several instances, wire invalidation through
 * `redisTenantInvalidation` from `@tenantry/redis`.
 *
 * @example
 * const directory = new CachedTenantDirectory(catalog, { ttlMs: 30_000 })
 * catalog.onChange((change) => applyTenantChange(change, { directory }))
 */
export class CachedTenantDirectory<T extends Tenant = Tenant> implements TenantDirectory<T> {
  readonly #source: TenantDirectory<T>
  readonly #cache: LRUCache<string, Entry<T>>
  readonly #negativeTtl: number
  readonly #inflight = new Map<string, Promise<T | undefined>>()
  #generation = 0
  #hits = 0
  #negativeHits = 0
  #misses = 0
  #loads = 0

  constructor(source: TenantDirectory<T>, options: CachedTenantDirectoryOptions = {}) {
    this.#source = source
    const ttl = positiveInteger(options.ttlMs, 'CachedTenantDirectory: ttlMs', 30_000)
    this.#negativeTtl = positiveInteger(options.negativeTtlMs, 'CachedTenantDirectory: negativeTtlMs', 5_000)
    const max = positiveInteger(options.max, 'CachedTenantDirectory: max', 10_000)
    this.#cache = new LRUCache<string, Entry<T>>({ max, ttl, updateAgeOnGet: false, allowStale: false })
  }

  /** The tenant with this slug, from memory when cached (a cached "none" included). */
  getBySlug(slug: string): Promise<T | undefined> {
    return this.#get(`slug:${slug}`, () => this.#source.getBySlug(slug))
  }

  /** The tenant with this id, from memory when cached. */
  getById(id: string): Promise<T | undefined> {
    return this.#get(`id:${id}`, () => this.#source.getById(id))
  }

  /** The tenant owning this custom domain, from memory when cached. */
  getByDomain(domain: string): Promise<T | undefined> {
    return this.#get(`domain:${domain}`, () => this.#source.getByDomain(domain))
  }

  /** Forgets everything cached for this tenant (every slug, id and domain entry naming it). */
  invalidateTenant(id: string): void {
    this.#bump()
    this.#cache.delete(`id:${id}`)
    const stale: string[] = []
    for (const [key, entry] of this.#cache.entries()) if (entry.tenant?.id === id) stale.push(key)
    for (const key of stale) this.#cache.delete(key)
  }

  /** Forgets a slug's entry (found or not found): call it when a tenant with this slug is created. */
  invalidateSlug(slug: string): void {
    this.#bump()
    this.#cache.delete(`slug:${slug}`)
  }

  /** Forgets a domain's entry: call it when the domain is added, removed or moved. */
  invalidateDomain(domain: string): void {
    this.#bump()
    this.#cache.delete(`domain:${domain}`)
  }

  /** Forgets everything (after a lost invalidation channel, for instance). */
  clear(): void {
    this.#bump()
    this.#cache.clear()
  }

  /**
   * Hit and miss counters and the current size.
   *
   * @example
   * const { hits, misses } = directory.stats()
   */
  stats(): TenantCacheStats {
    return { hits: this.#hits, negativeHits: this.#negativeHits, misses: this.#misses, loads: this.#loads, size: this.#cache.size }
  }

  /** Zeroes the counters (the cache itself is kept). */
  resetStats(): void {
    this.#hits = this.#negativeHits = this.#misses = this.#loads = 0
  }

  #bump(): void {
    // Lookups started before this point may carry the old state: never store them, and let
    // new callers start their own lookup instead of joining an old one.
    this.#generation++
    this.#inflight.clear()
  }

  #get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const entry = this.#cache.get(key)
    if (entry !== undefined) {
      if (entry.tenant === undefined) this.#negativeHits++
      else this.#hits++
      return Promise.resolve(entry.tenant)
    }
    this.#misses++
    const inflight = this.#inflight.get(key)
    if (inflight !== undefined) return inflight
    const generation = this.#generation
    this.#loads++
    const flight: Promise<T | undefined> = load().then(
      (tenant) => {
        if (this.#inflight.get(key) === flight) this.#inflight.delete(key)
        if (generation === this.#generation) this.#store(key, tenant)
        return tenant
      },
      (error: unknown) => {
        if (this.#inflight.get(key) === flight) this.#inflight.delete(key)
        throw error
      },
    )
    this.#inflight.set(key, flight)
    return flight
  }

  #store(key: string, tenant: T | undefined): void {
    if (tenant === undefined || tenant.status === 'deleted') {
      this.#cache.set(key, { tenant: undefined }, { ttl: this.#negativeTtl })
      return
    }
    const entry: Entry<T> = { tenant }
    this.#cache.set(key, entry)
    // Only the stable identifiers: a domain may move, so domain keys are cached only when looked up.
    if (!key.startsWith('id:')) this.#cache.set(`id:${tenant.id}`, entry)
    if (!key.startsWith('slug:')) this.#cache.set(`slug:${tenant.slug}`, entry)
  }
}
