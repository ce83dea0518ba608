/** An in-process LRU in front of the tenant directory: every request resolves a tenant, few change. */
import { frozenTenant } from '../context/tenant-context.ts'
import type { Tenant } from '../tenant/model.ts'
import { positiveInteger } from './cache-options.ts'
import type { TenantDirectory } from './directory.ts'
import { LookupCache, type LookupCacheStats } from './lookup-cache.ts'

export interface CachedTenantDirectoryOptions {
  /** How long a found tenant is served from memory; default 30 000 ms. Invalidation cuts it short. */
  readonly ttlMs?: number
  /** How long "no such tenant" is remembered; default 5 000 ms, so a probe storm cannot reach the catalog. */
  readonly negativeTtlMs?: number
  /** Most entries kept (each identifier is one entry); default 10 000. */
  readonly max?: number
}

/**
 * What the cache keeps and hands out: the tenant's deep-frozen scope copy, so
 * no code holding it (a handler, an observer) can change it for the next
 * request, and `runWithTenant` takes it as it is.
 */
function frozen<T extends Tenant>(tenant: T | undefined): T | undefined {
  return tenant === undefined ? undefined : frozenTenant(tenant, 'CachedTenantDirectory')
}

/** Counters since construction (or the last `resetStats`). */
export type TenantCacheStats = LookupCacheStats

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
 * The tenants it hands out are deep-frozen copies (the ones a tenant scope
 * holds): code that holds one cannot change it for the next request.
 *
 * @example
 * const directory = new CachedTenantDirectory(catalog, { ttlMs: 30_000 })
 * catalog.onChange((change) => applyTenantChange(change, { directory }))
 */
export class CachedTenantDirectory<T extends Tenant = Tenant> implements TenantDirectory<T> {
  readonly #source: TenantDirectory<T>
  readonly #cache: LookupCache<T>

  constructor(source: TenantDirectory<T>, options: CachedTenantDirectoryOptions = {}) {
    this.#source = source
    this.#cache = new LookupCache<T>({
      ttlMs: positiveInteger(options.ttlMs, 'CachedTenantDirectory: ttlMs', 30_000),
      negativeTtlMs: positiveInteger(options.negativeTtlMs, 'CachedTenantDirectory: negativeTtlMs', 5_000),
      max: positiveInteger(options.max, 'CachedTenantDirectory: max', 10_000),
      isAbsent: (tenant) => tenant.status === 'deleted',
      // Only the stable identifiers: a domain may move, so domain keys are cached only when looked up.
      aliases: (_key, tenant) => [`id:${tenant.id}`, `slug:${tenant.slug}`],
    })
  }

  /** The tenant with this slug, from memory when cached (a cached "none" included). */
  getBySlug(slug: string): Promise<T | undefined> {
    return this.#cache.get(`slug:${slug}`, () => this.#source.getBySlug(slug).then(frozen))
  }

  /** The tenant with this id, from memory when cached. */
  getById(id: string): Promise<T | undefined> {
    return this.#cache.get(`id:${id}`, () => this.#source.getById(id).then(frozen))
  }

  /** The tenant owning this custom domain, from memory when cached. */
  getByDomain(domain: string): Promise<T | undefined> {
    return this.#cache.get(`domain:${domain}`, () => this.#source.getByDomain(domain).then(frozen))
  }

  /** Forgets everything cached for this tenant (every slug, id and domain entry naming it). */
  invalidateTenant(id: string): void {
    this.#cache.delete(`id:${id}`)
    this.#cache.deleteWhere((tenant) => tenant.id === id)
  }

  /** Forgets a slug's entry (found or not found): call it when a tenant with this slug is created. */
  invalidateSlug(slug: string): void {
    this.#cache.delete(`slug:${slug}`)
  }

  /** Forgets a domain's entry: call it when the domain is added, removed or moved. */
  invalidateDomain(domain: string): void {
    this.#cache.delete(`domain:${domain}`)
  }

  /** Forgets everything (after a lost invalidation channel, for instance). */
  clear(): void {
    this.#cache.clear()
  }

  /**
   * Hit and miss counters and the current size.
   *
   * @example
   * const { hits, misses } = directory.stats()
   */
  stats(): TenantCacheStats {
    return this.#cache.stats()
  }

  /** Zeroes the counters (the cache itself is kept). */
  resetStats(): void {
    this.#cache.resetStats()
  }
}
