import { currentTenant } from '../context/index.ts'
import { validationError, type ValidationIssue } from '../errors/index.ts'
import { silentLogger, type FairShareLogger } from '../fair-share/logger.ts'
import { StoreGuard, type StoreGuardStats } from '../fair-share/store-guard.ts'
import { checkNonNegativeInteger, checkPositiveInteger } from '../fair-share/tenant.ts'
import type { CacheStore } from './contract.ts'
import { encodeKeyPart } from './key-encoding.ts'

/** How values become the strings a store keeps. */
export interface CacheCodec {
  encode(value: unknown): string
  decode(text: string): unknown
}

/** JSON: what most cached values are. A cached object comes back as a copy. */
export const jsonCodec: CacheCodec = {
  encode: (value) => JSON.stringify(value),
  decode: (text) => JSON.parse(text) as unknown,
}

export interface TenantCacheOptions {
  readonly store: CacheStore
  /** TTL of an entry when `set` is given none. */
  readonly ttlMs?: number
  /** Keeps this cache's keys apart from other caches on the same store. */
  readonly namespace?: string
  readonly codec?: CacheCodec
  /** A store call slower than this counts as failed (the cache then falls through). */
  readonly timeoutMs?: number
  /** After a store failure, calls skip the store this long before one probes it again. */
  readonly cooldownMs?: number
  readonly logger?: FairShareLogger
}

export interface CacheStats {
  readonly hits: number
  readonly misses: number
  /** Loader runs in `wrap` (a single-flight join is not a load). */
  readonly loads: number
  /** Writes dropped because the tenant was flushed while the value loaded. */
  readonly staleWritesDropped: number
  /** Tenants whose delete or flush failed and is retried; reads of theirs bypass the cache meanwhile. */
  readonly pendingInvalidations: number
  readonly store: StoreGuardStats
}

const MAX_TTL_MS = 2_147_483_647

/**
 * A cache scoped to the current tenant: every call reads `currentTenant()` and
 * touches only that tenant's entries (TENANT_CONTEXT_MISSING outside a tenant
 * scope). `flush()` drops all of the tenant's entries in O(1). When the store
 * fails or is slow the cache falls through: a read is a miss, `wrap` runs the
 * loader, a write is skipped; a failed delete or flush is remembered, the
 * tenant's reads bypass the cache until the flush has been redone.
 * See docs/cache.md.
 *
 * @example
 * const cache = new TenantCache({ store: new RedisCacheStore({ redis }), namespace: 'projects' })
 * await runWithTenant(tenant, async () => {
 *   const project = await cache.wrap(`project:${id}`, 30_000, () => db.selectFrom('projects').where('id', '=', id).executeTakeFirst())
 *   await cache.delete(`project:${id}`)   // after an update
 * })
 */
export class TenantCache {
  readonly store: CacheStore
  readonly #ttlMs: number
  readonly #prefix: string
  readonly #codec: CacheCodec
  readonly #logger: FairShareLogger
  readonly #guard: StoreGuard
  readonly #flights = new Map<string, Promise<unknown>>()
  /** Tenants whose invalidation failed: their reads bypass the store until a flush succeeds. */
  readonly #pending = new Set<string>()
  #retrying = false
  #hits = 0
  #misses = 0
  #loads = 0
  #staleWritesDropped = 0

  constructor(options: TenantCacheOptions) {
    if (typeof options !== 'object' || options === null) throw validationError([{ path: 'options', message: 'must be an object' }])
    const { store, ttlMs = 60_000, namespace = 'default', codec = jsonCodec, timeoutMs = 100, cooldownMs = 1000, logger = silentLogger } = options
    const issues: ValidationIssue[] = []
    for (const method of ['read', 'write', 'delete', 'flush'] as const) {
      if (typeof store?.[method] !== 'function') issues.push({ path: 'options.store', message: `must be a CacheStore (no ${method}() method)` })
    }
    checkPositiveInteger(ttlMs, 'options.ttlMs', issues, MAX_TTL_MS)
    if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 100) issues.push({ path: 'options.namespace', message: 'must be a string of 1 to 100 characters' })
    if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') issues.push({ path: 'options.codec', message: 'must have encode() and decode()' })
    checkNonNegativeInteger(timeoutMs, 'options.timeoutMs', issues)
    checkNonNegativeInteger(cooldownMs, 'options.cooldownMs', issues)
    if (typeof logger?.warn !== 'function') issues.push({ path: 'options.logger', message: 'must have a warn(details, message) method' })
    if (issues.length > 0) throw validationError(issues)
    this.store = store
    this.#ttlMs = ttlMs
    this.#prefix = `${encodeKeyPart(namespace)}:`
    this.#codec = codec
    this.#logger = logger
    this.#guard = new StoreGuard({ name: 'tenant cache store', timeoutMs, cooldownMs, logger })
  }

  /** The current tenant's value for `key`, or undefined (a miss, or the store failed). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    const tenantId = currentTenant().id
    const stored = this.#key(key)
    const found = await this.#read(tenantId, stored)
    return found.hit ? (found.value as T) : undefined
  }

  /** Stores `value` (not undefined) for the current tenant for `ttlMs` (default: the cache's). */
  async set(key: string, value: unknown, ttlMs: number = this.#ttlMs): Promise<void> {
    const tenantId = currentTenant().id
    const stored = this.#key(key)
    checkTtl(ttlMs)
    if (value === undefined) throw validationError([{ path: 'value', message: 'cannot cache undefined (use delete)' }])
    const text = this.#codec.encode(value)
    if (this.#pending.has(tenantId)) return
    await this.#guard.run(() => this.store.write(tenantId, stored, text, ttlMs))
  }

  /**
   * Removes the current tenant's entry. If the store fails, the tenant is marked
   * for a flush, retried once the store answers; its reads bypass the cache until then.
   */
  async delete(key: string): Promise<void> {
    const tenantId = currentTenant().id
    const stored = this.#key(key)
    const outcome = await this.#guard.run(() => this.store.delete(tenantId, stored))
    if (!outcome.ok) this.#invalidationFailed(tenantId, outcome.error)
  }

  /**
   * The cached value for `key`, or `loader()`'s result, stored for `ttlMs`.
   * Concurrent calls for the same tenant and key in this process share one
   * loader run. A loader error is thrown to every waiter and nothing is cached;
   * an `undefined` result is returned but not cached.
   *
   * @example
   * const stats = await cache.wrap('stats', 10_000, () => computeStats())
   */
  async wrap<T>(key: string, ttlMs: number, loader: () => T | Promise<T>): Promise<T> {
    const tenantId = currentTenant().id
    const stored = this.#key(key)
    checkTtl(ttlMs)
    if (typeof loader !== 'function') throw validationError([{ path: 'loader', message: 'must be a function' }])
    const flight = `${tenantId.length}:${tenantId}${stored}`
    const joined = this.#flights.get(flight)
    if (joined !== undefined) return joined as Promise<T>
    const run = this.#readOrLoad(tenantId, stored, ttlMs, loader).finally(() => this.#flights.delete(flight))
    this.#flights.set(flight, run)
    return run
  }

  /** Drops every entry of the current tenant, in O(1) (a new generation). */
  async flush(): Promise<void> {
    await this.flushTenant(currentTenant().id)
  }

  /**
   * Drops every entry of the tenant `tenantId` from outside its scope (an admin
   * action, a plan change). Same failure behaviour as `delete`.
   */
  async flushTenant(tenantId: string): Promise<void> {
    if (typeof tenantId !== 'string' || tenantId.length === 0) throw validationError([{ path: 'tenantId', message: 'must be a non-empty string' }])
    const outcome = await this.#guard.run(() => this.store.flush(tenantId))
    if (outcome.ok) this.#pending.delete(tenantId)
    else this.#invalidationFailed(tenantId, outcome.error)
  }

  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      loads: this.#loads,
      staleWritesDropped: this.#staleWritesDropped,
      pendingInvalidations: this.#pending.size,
      store: this.#guard.stats(),
    }
  }

  async #readOrLoad<T>(tenantId: string, stored: string, ttlMs: number, loader: () => T | Promise<T>): Promise<T> {
    const found = await this.#read(tenantId, stored)
    if (found.hit) return found.value as T
    this.#loads++
    const value = await loader()
    if (value === undefined || found.generation === undefined || this.#pending.has(tenantId)) return value
    const text = this.#codec.encode(value)
    const generation = found.generation
    const written = await this.#guard.run(() => this.store.write(tenantId, stored, text, ttlMs, generation))
    if (written.ok && !written.value) this.#staleWritesDropped++
    return value
  }

  /** A hit with its decoded value, or a miss with the generation to write in (none if the store failed). */
  async #read(tenantId: string, stored: string): Promise<{ hit: true; value: unknown } | { hit: false; generation: string | undefined }> {
    if (this.#pending.has(tenantId)) {
      this.#retryPending()
      this.#misses++
      return { hit: false, generation: undefined }
    }
    const outcome = await this.#guard.run(() => this.store.read(tenantId, stored))
    if (!outcome.ok) {
      this.#misses++
      return { hit: false, generation: undefined }
    }
    if (this.#pending.size > 0) this.#retryPending()
    const { value, generation } = outcome.value
    if (value !== undefined) {
      try {
        const decoded = this.#codec.decode(value)
        this.#hits++
        return { hit: true, value: decoded }
      } catch (error) {
        // An entry this codec cannot read (written by another version): a miss, overwritten by the load.
        this.#logger.warn({ error: (error as Error).message }, 'tenant cache: undecodable entry treated as a miss')
      }
    }
    this.#misses++
    return { hit: false, generation }
  }

  #key(key: string): string {
    if (typeof key !== 'string' || key.length === 0) throw validationError([{ path: 'key', message: 'must be a non-empty string' }])
    return this.#prefix + encodeKeyPart(key)
  }

  #invalidationFailed(tenantId: string, error: unknown): void {
    if (!this.#pending.has(tenantId)) {
      this.#pending.add(tenantId)
      this.#logger.warn(
        { tenantId, error: error instanceof Error ? error.message : String(error) },
        "tenant cache: an invalidation failed; the tenant's reads bypass the cache until its flush succeeds",
      )
    }
  }

  /**
   * Redoes the pending flushes (one pass at a time). While the store cools down
   * the guard skips the call at once; after that the first flush is the probe.
   */
  #retryPending(): void {
    if (this.#retrying || this.#pending.size === 0) return
    this.#retrying = true
    void (async () => {
      try {
        for (const tenantId of [...this.#pending]) {
          const outcome = await this.#guard.run(() => this.store.flush(tenantId))
          if (!outcome.ok) break
          this.#pending.delete(tenantId)
        }
      } finally {
        this.#retrying = false
      }
    })()
  }
}

function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TTL_MS) {
    throw validationError([{ path: 'ttlMs', message: `must be an integer from 1 to ${MAX_TTL_MS}` }])
  }
}
