import { LRUCache } from 'lru-cache'
import { validationError, type ValidationIssue } from '../errors/index.ts'
import { checkNonNegativeInteger, checkPositiveInteger } from '../fair-share/tenant.ts'
import type { CacheRead, CacheStore } from './contract.ts'

export interface MemoryCacheStoreOptions {
  /** Most entries kept, all tenants together. */
  readonly maxEntries?: number
  /** Most bytes kept (keys and values, UTF-8), all tenants together. */
  readonly maxBytes?: number
  /** A single entry larger than this is not stored (default: an eighth of `maxBytes`). */
  readonly maxEntryBytes?: number
  /** How often expired entries and flushed generations are swept (0: never; they still go by LRU). */
  readonly sweepIntervalMs?: number
  /** The clock, in ms (tests pass a fake one). */
  readonly now?: () => number
}

interface Entry {
  readonly tenantId: string
  readonly generation: number
  readonly value: string
}

/**
 * Tenant-cache entries in this process's memory: one LRU bounded by entry count
 * AND bytes across all tenants, a TTL per entry, and a generation per tenant so
 * a flush is O(1); flushed and expired entries are swept in the background.
 *
 * @example
 * const cache = new TenantCache({ store: new MemoryCacheStore({ maxEntries: 50_000, maxBytes: 64 * 2 ** 20 }) })
 */
export class MemoryCacheStore implements CacheStore {
  readonly #entries: LRUCache<string, Entry>
  readonly #generations = new Map<string, number>()
  readonly #sweeper: NodeJS.Timeout | undefined
  #nextGeneration = 1
  #flushedSinceSweep = false

  constructor(options: MemoryCacheStoreOptions = {}) {
    const { maxEntries = 10_000, maxBytes = 64 * 2 ** 20, sweepIntervalMs = 60_000, now = Date.now } = options
    const maxEntryBytes = options.maxEntryBytes ?? Math.max(1, Math.floor(maxBytes / 8))
    const issues: ValidationIssue[] = []
    checkPositiveInteger(maxEntries, 'options.maxEntries', issues)
    checkPositiveInteger(maxBytes, 'options.maxBytes', issues)
    checkPositiveInteger(maxEntryBytes, 'options.maxEntryBytes', issues, maxBytes)
    checkNonNegativeInteger(sweepIntervalMs, 'options.sweepIntervalMs', issues)
    if (typeof now !== 'function') issues.push({ path: 'options.now', message: 'must be a function returning ms' })
    if (issues.length > 0) throw validationError(issues)
    this.#entries = new LRUCache<string, Entry>({
      max: maxEntries,
      maxSize: maxBytes,
      maxEntrySize: maxEntryBytes,
      sizeCalculation: (entry, key) => Buffer.byteLength(entry.value) + Buffer.byteLength(key),
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now },
    })
    if (sweepIntervalMs > 0) {
      this.#sweeper = setInterval(() => this.sweep(), sweepIntervalMs)
      this.#sweeper.unref()
    }
  }

  async read(tenantId: string, key: string): Promise<CacheRead> {
    const generation = this.#generation(tenantId)
    const entry = this.#entries.get(entryKey(tenantId, generation, key))
    return { value: entry?.value, generation: String(generation) }
  }

  async write(tenantId: string, key: string, value: string, ttlMs: number, generation?: string): Promise<boolean> {
    const current = this.#generation(tenantId)
    if (generation !== undefined && generation !== String(current)) return false
    // lru-cache refuses (and evicts nothing for) an entry above maxEntrySize.
    this.#entries.set(entryKey(tenantId, current, key), { tenantId, generation: current, value }, { ttl: ttlMs })
    return true
  }

  async delete(tenantId: string, key: string): Promise<void> {
    this.#entries.delete(entryKey(tenantId, this.#generation(tenantId), key))
  }

  async flush(tenantId: string): Promise<string> {
    const next = this.#nextGeneration++
    this.#generations.set(tenantId, next)
    this.#flushedSinceSweep = true
    return String(next)
  }

  /** Drops expired entries, and entries of flushed generations. Runs on a timer too. */
  sweep(): void {
    this.#entries.purgeStale()
    if (!this.#flushedSinceSweep) return
    this.#flushedSinceSweep = false
    const stale: string[] = []
    for (const [key, entry] of this.#entries.entries()) {
      if (this.#generation(entry.tenantId) !== entry.generation) stale.push(key)
    }
    for (const key of stale) this.#entries.delete(key)
  }

  /** Entries and bytes held (expired ones not yet swept included). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#entries.calculatedSize }
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper)
    this.#entries.clear()
    this.#generations.clear()
  }

  // A tenant never flushed is in generation 0 and takes no room in the map;
  // the map never forgets a tenant, so an old generation cannot come back.
  #generation(tenantId: string): number {
    return this.#generations.get(tenantId) ?? 0
  }
}

// Length-prefixed tenant id: whatever the id and key hold, no (tenant, key)
// pair reads as another.
function entryKey(tenantId: string, generation: number, key: string): string {
  return `${tenantId.length}:${tenantId}:${generation}:${key}`
}
