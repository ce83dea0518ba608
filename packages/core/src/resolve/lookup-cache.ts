/** The one read-through cache behind tenant and API-key lookups: LRU + TTL, negative entries, single-flight. */
import { LRUCache } from 'lru-cache'

export interface LookupCacheOptions<V> {
  /** How long a found value is served from memory. */
  readonly ttlMs: number
  /** How long "not found" is remembered. */
  readonly negativeTtlMs: number
  /** Most found values kept. */
  readonly max: number
  /**
   * Most "not found" entries kept, in an LRU of their own so a flood of unknown
   * keys cannot push found ones out. Default: they share the `max` LRU.
   */
  readonly negativeMax?: number
  /** A loaded value that counts as "not found" (a deleted tenant). */
  readonly isAbsent?: (value: V) => boolean
  /** Other keys a loaded value is stored under too (a tenant found by slug, under its id). */
  readonly aliases?: (key: string, value: V) => Iterable<string>
}

/** Counters since construction (or the last `resetStats`). */
export interface LookupCacheStats {
  readonly hits: number
  readonly negativeHits: number
  readonly misses: number
  /** Lookups that reached the source (misses that joined an in-flight lookup are not counted). */
  readonly loads: number
  readonly size: number
}

interface Entry<V> {
  readonly value: V | undefined
}

/**
 * A read-through cache: `get(key, load)` answers from memory when it can;
 * otherwise concurrent callers of one key share one `load()` (single-flight).
 * Any invalidation bumps a generation: a load that was in flight then is
 * answered but never stored, so it cannot put the old state back, and new
 * callers start a fresh load instead of joining it.
 *
 * @example
 * const cache = new LookupCache<Tenant>({ ttlMs: 30_000, negativeTtlMs: 5_000, max: 10_000 })
 * const tenant = await cache.get(`slug:${slug}`, () => catalog.getBySlug(slug))
 */
export class LookupCache<V extends object> {
  readonly #found: LRUCache<string, Entry<V>>
  readonly #absent: LRUCache<string, Entry<V>>
  readonly #negativeTtl: number
  readonly #isAbsent: (value: V) => boolean
  readonly #aliases: ((key: string, value: V) => Iterable<string>) | undefined
  readonly #inflight = new Map<string, Promise<V | undefined>>()
  #generation = 0
  #hits = 0
  #negativeHits = 0
  #misses = 0
  #loads = 0

  constructor(options: LookupCacheOptions<V>) {
    this.#found = new LRUCache<string, Entry<V>>({ max: options.max, ttl: options.ttlMs, updateAgeOnGet: false, allowStale: false })
    this.#absent = options.negativeMax === undefined
      ? this.#found
      : new LRUCache<string, Entry<V>>({ max: options.negativeMax, ttl: options.negativeTtlMs, updateAgeOnGet: false, allowStale: false })
    this.#negativeTtl = options.negativeTtlMs
    this.#isAbsent = options.isAbsent ?? (() => false)
    this.#aliases = options.aliases
  }

  /** The value under `key`, from memory when cached (a cached "not found" included), else from `load`. */
  get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const entry = this.#found.get(key) ?? (this.#absent === this.#found ? undefined : this.#absent.get(key))
    if (entry !== undefined) {
      if (entry.value === undefined) this.#negativeHits++
      else this.#hits++
      return Promise.resolve(entry.value)
    }
    this.#misses++
    const inflight = this.#inflight.get(key)
    if (inflight !== undefined) return inflight
    const generation = this.#generation
    this.#loads++
    const flight: Promise<V | undefined> = load().then(
      (value) => {
        if (this.#inflight.get(key) === flight) this.#inflight.delete(key)
        if (generation === this.#generation) this.#store(key, value)
        return value
      },
      (error: unknown) => {
        if (this.#inflight.get(key) === flight) this.#inflight.delete(key)
        throw error
      },
    )
    this.#inflight.set(key, flight)
    return flight
  }

  /** Forgets one key (found or not). */
  delete(key: string): void {
    this.#bump()
    this.#found.delete(key)
    this.#absent.delete(key)
  }

  /** Forgets every found value `matches` picks. */
  deleteWhere(matches: (value: V) => boolean): void {
    this.#bump()
    const stale: string[] = []
    for (const [key, entry] of this.#found.entries()) if (entry.value !== undefined && matches(entry.value)) stale.push(key)
    for (const key of stale) this.#found.delete(key)
  }

  /** Forgets everything. */
  clear(): void {
    this.#bump()
    this.#found.clear()
    this.#absent.clear()
  }

  stats(): LookupCacheStats {
    const size = this.#found.size + (this.#absent === this.#found ? 0 : this.#absent.size)
    return { hits: this.#hits, negativeHits: this.#negativeHits, misses: this.#misses, loads: this.#loads, size }
  }

  /** Zeroes the counters (the entries are kept). */
  resetStats(): void {
    this.#hits = this.#negativeHits = this.#misses = this.#loads = 0
  }

  #bump(): void {
    this.#generation++
    this.#inflight.clear()
  }

  #store(key: string, value: V | undefined): void {
    if (value === undefined || this.#isAbsent(value)) {
      this.#absent.set(key, { value: undefined }, { ttl: this.#negativeTtl })
      return
    }
    const entry: Entry<V> = { value }
    this.#found.set(key, entry)
    if (this.#aliases !== undefined) for (const alias of this.#aliases(key, value)) if (alias !== key) this.#found.set(alias, entry)
  }
}
