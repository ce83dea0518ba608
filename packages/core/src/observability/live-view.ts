import { validationError, type ValidationIssue } from '../errors/index.ts'

/** One finished request, as the live view counts it. */
export interface LiveRequest {
  /** How long it took, in milliseconds. */
  readonly durationMs: number
  /** The HTTP status sent; 5xx counts as an error. */
  readonly status: number
  /** Refused by the rate limiter (a 429 from it). */
  readonly limited?: boolean
  /** Refused by the bulkhead (no slot, queue full or timed out). */
  readonly rejected?: boolean
}

/** A tenant's (or the fleet's) figures over the whole window. */
export interface LiveSummary {
  /** The tenant's id, or `'*'` for the fleet. */
  readonly tenantId: string
  readonly windowMs: number
  readonly requests: number
  /** Requests per second over the window. */
  readonly perSecond: number
  /** 5xx answers. */
  readonly errors: number
  /** errors / requests (0 without requests). */
  readonly errorRate: number
  readonly limitHits: number
  readonly rejections: number
  /** Latency percentiles in ms, from a histogram: each within about ±19 % (NaN without requests). */
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

/** One bucket of a tenant's window, oldest first in `series()`. */
export interface LivePoint {
  /** The bucket's start (wall clock, ms). */
  readonly at: number
  readonly requests: number
  readonly errors: number
  readonly limitHits: number
  readonly rejections: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
}

export interface LiveViewOptions {
  /** How far back the view reaches; default 300,000 (5 minutes). A whole number of buckets. */
  readonly windowMs?: number
  /** One bucket's span; default 30,000 (10 buckets in 5 minutes). */
  readonly bucketMs?: number
  /** Tenants kept; past it the one seen least recently is dropped. Default 10,000. */
  readonly maxTenants?: number
  /** The wall clock in ms (buckets are aligned to it, as a console shows them); default `Date.now`. */
  readonly now?: () => number
}

/** What `top()` sorts by, largest first. */
export type LiveOrder = 'requests' | 'errors' | 'errorRate' | 'limitHits' | 'rejections' | 'p99Ms'

const COUNTERS = 4 // requests, errors, limit hits, rejections
const BINS = 40
/** Bin i holds latencies up to FIRST_BOUND_MS × √2^i; the last bin everything above. */
const FIRST_BOUND_MS = 0.25
const FLEET = '*'
const LIMITED = 1
const REJECTED = 2
/** Requests held before they are counted in one pass (or at a read). */
const HELD = 256

/** A tenant's window: a ring of buckets, each counters and a latency histogram. */
class Window {
  /** The bucket number each slot holds (-1: empty). */
  readonly slots: Float64Array
  readonly counters: Uint32Array
  readonly histogram: Uint32Array
  /** The last bucket number recorded in (for the least-recently-seen order). */
  lastSlot = -1

  constructor(buckets: number) {
    this.slots = new Float64Array(buckets).fill(-1)
    this.counters = new Uint32Array(buckets * COUNTERS)
    this.histogram = new Uint32Array(buckets * BINS)
  }

  record(slot: number, status: number, flags: number, bin: number): void {
    const buckets = this.slots.length
    const i = slot % buckets
    if (this.slots[i] !== slot) {
      this.slots[i] = slot
      this.counters.fill(0, i * COUNTERS, (i + 1) * COUNTERS)
      this.histogram.fill(0, i * BINS, (i + 1) * BINS)
    }
    const c = i * COUNTERS
    this.counters[c] = this.counters[c]! + 1
    if (status >= 500) this.counters[c + 1] = this.counters[c + 1]! + 1
    if ((flags & LIMITED) !== 0) this.counters[c + 2] = this.counters[c + 2]! + 1
    if ((flags & REJECTED) !== 0) this.counters[c + 3] = this.counters[c + 3]! + 1
    const h = i * BINS + bin
    this.histogram[h] = this.histogram[h]! + 1
  }
}

/** The histogram bin of a latency. */
function binOf(durationMs: number): number {
  if (!(durationMs > FIRST_BOUND_MS)) return 0
  return Math.min(BINS - 1, Math.ceil(2 * Math.log2(durationMs / FIRST_BOUND_MS)))
}

/** A bin's representative latency: the geometric middle of its bounds (the last bin: its lower bound). */
function valueOf(bin: number): number {
  if (bin === 0) return FIRST_BOUND_MS / Math.SQRT2
  const lower = FIRST_BOUND_MS * Math.SQRT2 ** (bin - 1)
  return bin === BINS - 1 ? lower : lower * 2 ** 0.25
}

function percentile(histogram: Uint32Array, total: number, q: number): number {
  if (total === 0) return Number.NaN
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (let bin = 0; bin < BINS; bin++) {
    seen += histogram[bin]!
    if (seen >= rank) return valueOf(bin)
  }
  return valueOf(BINS - 1)
}

/**
 * A per-tenant live view of the last minutes (throughput, error rate,
 * latency percentiles, limit hits, bulkhead rejections), for an operator's
 * console. Fixed memory per tenant (a ring of `windowMs / bucketMs` buckets,
 * each 4 counters and a 40-bin latency histogram: about 1.9 KB with the
 * defaults), at most `maxTenants` tenants, the least recently seen dropped
 * first; and the same for the whole fleet. Recording is O(1) with no
 * allocation: a request is read into a few array slots (nothing of its object
 * is kept) and counted with others in one pass, when 256 are held or before
 * any read; reading merges a tenant's buckets.
 *
 * @example
 * const live = new LiveView()
 * live.record(tenant.id, { durationMs: 12.5, status: 200 })
 * live.summary(tenant.id)   // { requests: 1, perSecond: 0.0033…, p99Ms: 12.6…, … }
 * live.top('p99Ms', 10)     // the ten slowest tenants now
 */
export class LiveView {
  readonly #windowMs: number
  readonly #bucketMs: number
  readonly #buckets: number
  readonly #maxTenants: number
  readonly #now: () => number
  readonly #tenants = new Map<string, Window>()
  readonly #fleet: Window
  /** Requests read but not counted yet, in the order they came: the tenant, when, the status, flags and bin. */
  #held = 0
  readonly #heldTenants = new Array<string | undefined>(HELD).fill(undefined)
  readonly #heldAt = new Float64Array(HELD)
  readonly #heldStatus = new Float64Array(HELD)
  readonly #heldFlags = new Uint8Array(HELD)
  readonly #heldBins = new Uint8Array(HELD)

  constructor(options: LiveViewOptions = {}) {
    const { windowMs = 300_000, bucketMs = 30_000, maxTenants = 10_000, now = Date.now } = options
    const issues: ValidationIssue[] = []
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) issues.push({ path: 'options.bucketMs', message: 'must be a positive whole number of milliseconds' })
    if (!Number.isSafeInteger(windowMs) || windowMs < 1 || (Number.isSafeInteger(bucketMs) && bucketMs > 0 && (windowMs % bucketMs !== 0 || windowMs / bucketMs > 1000))) {
      issues.push({ path: 'options.windowMs', message: 'must be a whole number of buckets (bucketMs), at most 1,000' })
    }
    if (!Number.isSafeInteger(maxTenants) || maxTenants < 1) issues.push({ path: 'options.maxTenants', message: 'must be a positive whole number' })
    if (typeof now !== 'function') issues.push({ path: 'options.now', message: 'must be a function returning milliseconds' })
    if (issues.length > 0) throw validationError(issues)
    this.#windowMs = windowMs
    this.#bucketMs = bucketMs
    this.#buckets = windowMs / bucketMs
    this.#maxTenants = maxTenants
    this.#now = now
    this.#fleet = new Window(this.#buckets)
  }

  /** Tenants with a window now. */
  get size(): number {
    this.#count()
    return this.#tenants.size
  }

  /**
   * Counts one finished request of `tenantId` (and of the fleet). What is
   * counted is read now (the time, the status, the flags and the latency's
   * bin: nothing of the request object is kept), held, and counted with up to
   * 255 others in one pass, in the order they came, before any read.
   */
  record(tenantId: string, request: LiveRequest): void {
    if (typeof tenantId !== 'string' || typeof request !== 'object' || request === null) {
      throw validationError([{ path: typeof tenantId !== 'string' ? 'tenantId' : 'request', message: typeof tenantId !== 'string' ? 'must be the tenant\'s id (a string)' : 'must be { durationMs, status, limited?, rejected? }' }])
    }
    // The time first: a clock that throws leaves nothing half recorded.
    const at = this.#now()
    // Every field read before a slot is taken: a getter that records or reads itself cannot land in the middle of it.
    const status = request.status
    const flags = (request.limited === true ? LIMITED : 0) | (request.rejected === true ? REJECTED : 0)
    const bin = binOf(request.durationMs)
    const i = this.#held
    this.#heldTenants[i] = tenantId
    this.#heldAt[i] = at
    this.#heldStatus[i] = status
    this.#heldFlags[i] = flags
    this.#heldBins[i] = bin
    if ((this.#held = i + 1) === HELD) this.#count()
  }

  /** Counts the requests held, in the order they came, in one pass (the windows warm). */
  #count(): void {
    const n = this.#held
    if (n === 0) return
    // Emptied first: a throw below cannot count a request twice.
    this.#held = 0
    for (let i = 0; i < n; i++) {
      this.#countOne(this.#heldTenants[i] as string, this.#heldAt[i] as number, this.#heldStatus[i] as number, this.#heldFlags[i] as number, this.#heldBins[i] as number)
      this.#heldTenants[i] = undefined
    }
  }

  #countOne(tenantId: string, at: number, status: number, flags: number, bin: number): void {
    const slot = Math.floor(at / this.#bucketMs)
    let window = this.#tenants.get(tenantId)
    if (window === undefined) {
      if (this.#tenants.size >= this.#maxTenants) {
        const oldest = this.#tenants.keys().next().value
        if (oldest !== undefined) this.#tenants.delete(oldest)
      }
      window = new Window(this.#buckets)
      this.#tenants.set(tenantId, window)
    } else if (window.lastSlot !== slot) {
      // Moved to the end once per bucket: the map's order is least recently seen first.
      this.#tenants.delete(tenantId)
      this.#tenants.set(tenantId, window)
    }
    window.lastSlot = slot
    window.record(slot, status, flags, bin)
    this.#fleet.record(slot, status, flags, bin)
  }

  /** The tenant's figures over the window; undefined for a tenant with none. */
  summary(tenantId: string): LiveSummary | undefined {
    this.#count()
    const window = this.#tenants.get(tenantId)
    return window === undefined ? undefined : this.#summaryOf(tenantId, window)
  }

  /** The fleet's figures over the window (`tenantId: '*'`). */
  fleet(): LiveSummary {
    this.#count()
    return this.#summaryOf(FLEET, this.#fleet)
  }

  /** The tenant's buckets, oldest first, every bucket of the window (empty ones as zeros). */
  series(tenantId: string): LivePoint[] {
    this.#count()
    const window = tenantId === FLEET ? this.#fleet : this.#tenants.get(tenantId)
    const current = Math.floor(this.#now() / this.#bucketMs)
    const points: LivePoint[] = []
    for (let slot = current - this.#buckets + 1; slot <= current; slot++) {
      const i = slot % this.#buckets
      const held = window !== undefined && window.slots[i] === slot
      const c = i * COUNTERS
      const requests = held ? window.counters[c]! : 0
      const histogram = held ? window.histogram.subarray(i * BINS, (i + 1) * BINS) : new Uint32Array(BINS)
      points.push({
        at: slot * this.#bucketMs,
        requests,
        errors: held ? window.counters[c + 1]! : 0,
        limitHits: held ? window.counters[c + 2]! : 0,
        rejections: held ? window.counters[c + 3]! : 0,
        p50Ms: percentile(histogram, requests, 0.5),
        p95Ms: percentile(histogram, requests, 0.95),
        p99Ms: percentile(histogram, requests, 0.99),
      })
    }
    return points
  }

  /** The `limit` tenants with the most of `by` over the window, largest first (tenants with no requests in it left out). */
  top(by: LiveOrder, limit = 10): LiveSummary[] {
    this.#count()
    const all: LiveSummary[] = []
    for (const [tenantId, window] of this.#tenants) {
      const summary = this.#summaryOf(tenantId, window)
      if (summary.requests > 0) all.push(summary)
    }
    return all.sort((a, b) => (b[by] || 0) - (a[by] || 0)).slice(0, limit)
  }

  #summaryOf(tenantId: string, window: Window): LiveSummary {
    const current = Math.floor(this.#now() / this.#bucketMs)
    const merged = new Uint32Array(BINS)
    let requests = 0
    let errors = 0
    let limitHits = 0
    let rejections = 0
    for (let i = 0; i < this.#buckets; i++) {
      const slot = window.slots[i]!
      if (slot < 0 || slot <= current - this.#buckets || slot > current) continue
      const c = i * COUNTERS
      requests += window.counters[c]!
      errors += window.counters[c + 1]!
      limitHits += window.counters[c + 2]!
      rejections += window.counters[c + 3]!
      for (let b = 0; b < BINS; b++) merged[b] = merged[b]! + window.histogram[i * BINS + b]!
    }
    return {
      tenantId,
      windowMs: this.#windowMs,
      requests,
      perSecond: requests / (this.#windowMs / 1000),
      errors,
      errorRate: requests === 0 ? 0 : errors / requests,
      limitHits,
      rejections,
      p50Ms: percentile(merged, requests, 0.5),
      p95Ms: percentile(merged, requests, 0.95),
      p99Ms: percentile(merged, requests, 0.99),
    }
  }
}
