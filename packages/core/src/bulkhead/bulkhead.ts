import { TenantryError, validationError, type ValidationIssue } from '../errors/index.ts'
import { silentLogger, type FairShareLogger } from '../fair-share/logger.ts'
import { assertFairShareTenant, checkNonNegativeInteger, checkPositiveInteger, WarnedOnce, type FairShareTenant } from '../fair-share/tenant.ts'
import { retryAfterHeader } from '../ratelimit/headers.ts'

/** How much one tenant may run at once in this process, and how many may wait. */
export interface BulkheadLimits {
  /** Requests of the tenant in flight at once. */
  readonly maxConcurrent: number
  /** Requests of the tenant waiting for a slot; one more is OVERLOADED at once (0: no queue). */
  readonly maxQueue: number
}

export interface TenantBulkheadOptions extends Partial<BulkheadLimits> {
  /** Limits per plan; a plan not listed gets `maxConcurrent` / `maxQueue`. */
  readonly plans?: Readonly<Record<string, Partial<BulkheadLimits>>>
  /** How long a request may wait in the queue before OVERLOADED. */
  readonly queueTimeoutMs?: number
  /** `Retry-After` sent with OVERLOADED. */
  readonly retryAfterMs?: number
  /** `tenant.settings[settingsKey]` may override: `{ maxConcurrent?, maxQueue? }`. */
  readonly settingsKey?: string
  readonly logger?: FairShareLogger
}

export interface AcquireOptions {
  /** Aborting it while the request waits takes it out of the queue (OVERLOADED). */
  readonly signal?: AbortSignal | undefined
}

/** A slot held by one request. */
export interface BulkheadPermit {
  /** Gives the slot back (to the next waiting request of the tenant, if any). Idempotent. */
  release(): void
}

export interface BulkheadStats {
  /** Tenants with work in flight or waiting. */
  readonly tenants: number
  readonly active: number
  readonly queued: number
  /** Requests refused: queue full, waited too long, or aborted while waiting. */
  readonly rejected: number
  readonly timedOut: number
}

interface Waiter {
  readonly resolve: (permit: BulkheadPermit) => void
  readonly reject: (error: TenantryError) => void
  timer: NodeJS.Timeout | undefined
  onAbort: (() => void) | undefined
  signal: AbortSignal | undefined
  done: boolean
}

/** One tenant's lane: its slots in use and its FIFO queue. */
interface Lane {
  active: number
  /** Live waiters (the queue may still hold settled ones, skipped on hand-over). */
  waiting: number
  readonly queue: Waiter[]
  head: number
}

/**
 * A per-tenant concurrency bulkhead: each tenant may have `maxConcurrent`
 * requests in flight in this process; the next `maxQueue` wait (first come,
 * first served) up to `queueTimeoutMs`; beyond that the request is OVERLOADED
 * (503, `Retry-After`). Tenants have separate lanes, so one tenant flooding
 * fills only its own and the others are admitted at once. See docs/bulkheads.md.
 *
 * @example
 * const bulkhead = new TenantBulkhead({ maxConcurrent: 8, maxQueue: 16, queueTimeoutMs: 1000 })
 * const permit = await bulkhead.acquire(tenant)   // or throws OVERLOADED
 * try { await handle(request) } finally { permit.release() }
 */
export class TenantBulkhead {
  readonly #defaults: BulkheadLimits
  readonly #plans: Readonly<Record<string, Partial<BulkheadLimits>>>
  readonly #queueTimeoutMs: number
  readonly #retryAfterMs: number
  readonly #settingsKey: string
  readonly #logger: FairShareLogger
  readonly #warned = new WarnedOnce()
  readonly #lanes = new Map<string, Lane>()
  #rejected = 0
  #timedOut = 0

  constructor(options: TenantBulkheadOptions = {}) {
    const {
      maxConcurrent = 10, maxQueue = 20, plans = {}, queueTimeoutMs = 1000, retryAfterMs = 1000,
      settingsKey = 'bulkhead', logger = silentLogger,
    } = options
    const issues: ValidationIssue[] = []
    checkPositiveInteger(maxConcurrent, 'options.maxConcurrent', issues)
    checkNonNegativeInteger(maxQueue, 'options.maxQueue', issues, Number.MAX_SAFE_INTEGER)
    if (typeof plans !== 'object' || plans === null) issues.push({ path: 'options.plans', message: 'must be an object { [plan]: { maxConcurrent?, maxQueue? } }' })
    else for (const [name, limits] of Object.entries(plans)) checkLimits(limits, `options.plans.${name}`, issues)
    checkNonNegativeInteger(queueTimeoutMs, 'options.queueTimeoutMs', issues)
    checkPositiveInteger(retryAfterMs, 'options.retryAfterMs', issues, 2_147_483_647)
    if (typeof settingsKey !== 'string' || settingsKey.length === 0) issues.push({ path: 'options.settingsKey', message: 'must be a non-empty string' })
    if (typeof logger?.warn !== 'function') issues.push({ path: 'options.logger', message: 'must have a warn(details, message) method' })
    if (issues.length > 0) throw validationError(issues)
    this.#defaults = { maxConcurrent, maxQueue }
    this.#plans = { ...plans }
    this.#queueTimeoutMs = queueTimeoutMs
    this.#retryAfterMs = retryAfterMs
    this.#settingsKey = settingsKey
    this.#logger = logger
  }

  /** The limits that apply to `tenant`: defaults, then its plan's, then its settings override. */
  limitsFor(tenant: FairShareTenant): BulkheadLimits {
    const plan = tenant.plan !== undefined && Object.hasOwn(this.#plans, tenant.plan) ? this.#plans[tenant.plan] : undefined
    let limits: BulkheadLimits = { ...this.#defaults, ...plan }
    const raw = tenant.settings?.[this.#settingsKey]
    if (raw !== undefined && raw !== null) {
      const issues: ValidationIssue[] = []
      checkLimits(raw, `settings.${this.#settingsKey}`, issues)
      if (issues.length === 0) limits = { ...limits, ...(raw as Partial<BulkheadLimits>) }
      else if (this.#warned.first(tenant.id)) {
        this.#logger.warn({ tenantId: tenant.id, issues }, `ignoring the tenant's malformed settings.${this.#settingsKey}`)
      }
    }
    return limits
  }

  /**
   * Takes a slot for one request of `tenant`: at once when one is free, after
   * waiting in the tenant's queue otherwise; throws OVERLOADED (503, with
   * `Retry-After`) when the queue is full, the wait exceeds `queueTimeoutMs`, or
   * `signal` aborts while waiting.
   */
  acquire(tenant: FairShareTenant, options: AcquireOptions = {}): Promise<BulkheadPermit> {
    assertFairShareTenant(tenant, 'TenantBulkhead.acquire')
    const limits = this.limitsFor(tenant)
    let lane = this.#lanes.get(tenant.id)
    if (lane === undefined) {
      lane = { active: 0, waiting: 0, queue: [], head: 0 }
      this.#lanes.set(tenant.id, lane)
    }
    if (lane.active < limits.maxConcurrent && lane.waiting === 0) {
      lane.active++
      return Promise.resolve(this.#permit(tenant.id, lane))
    }
    if (lane.waiting >= limits.maxQueue || this.#queueTimeoutMs === 0) {
      this.#rejected++
      this.#dropIfIdle(tenant.id, lane)
      return Promise.reject(this.#overloaded(limits, 'full'))
    }
    if (options.signal?.aborted) {
      this.#rejected++
      this.#dropIfIdle(tenant.id, lane)
      return Promise.reject(this.#overloaded(limits, 'aborted'))
    }
    return new Promise<BulkheadPermit>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined, onAbort: undefined, signal: options.signal, done: false }
      const owner = lane as Lane
      waiter.timer = setTimeout(() => {
        this.#timedOut++
        this.#giveUp(tenant.id, owner, waiter, this.#overloaded(limits, 'timeout'))
      }, this.#queueTimeoutMs)
      if (options.signal) {
        waiter.onAbort = () => this.#giveUp(tenant.id, owner, waiter, this.#overloaded(limits, 'aborted'))
        options.signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      owner.queue.push(waiter)
      owner.waiting++
    })
  }

  stats(): BulkheadStats {
    let active = 0
    let queued = 0
    for (const lane of this.#lanes.values()) {
      active += lane.active
      queued += lane.waiting
    }
    return { tenants: this.#lanes.size, active, queued, rejected: this.#rejected, timedOut: this.#timedOut }
  }

  #permit(tenantId: string, lane: Lane): BulkheadPermit {
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.#handOver(tenantId, lane)
      },
    }
  }

  /** A slot came free: the next live waiter gets it, else the lane shrinks. */
  #handOver(tenantId: string, lane: Lane): void {
    while (lane.head < lane.queue.length) {
      const next = lane.queue[lane.head] as Waiter
      lane.queue[lane.head] = undefined as unknown as Waiter
      lane.head++
      if (next.done) continue
      this.#settle(next)
      lane.waiting--
      this.#compact(lane)
      next.resolve(this.#permit(tenantId, lane))
      return
    }
    lane.active--
    this.#compact(lane)
    this.#dropIfIdle(tenantId, lane)
  }

  #giveUp(tenantId: string, lane: Lane, waiter: Waiter, error: TenantryError): void {
    if (waiter.done) return
    this.#settle(waiter)
    lane.waiting--
    this.#rejected++
    waiter.reject(error)
    // The waiter stays in the array marked done (skipped on hand-over); trim
    // the done ones at the head so a quiet lane frees its memory.
    while (lane.head < lane.queue.length && (lane.queue[lane.head] as Waiter).done) lane.head++
    this.#compact(lane)
    this.#dropIfIdle(tenantId, lane)
  }

  #settle(waiter: Waiter): void {
    waiter.done = true
    if (waiter.timer) clearTimeout(waiter.timer)
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort)
  }

  #compact(lane: Lane): void {
    if (lane.head === lane.queue.length) {
      lane.queue.length = 0
      lane.head = 0
    } else if (lane.head > 64 && lane.head * 2 > lane.queue.length) {
      lane.queue.splice(0, lane.head)
      lane.head = 0
    }
  }

  #dropIfIdle(tenantId: string, lane: Lane): void {
    if (lane.active === 0 && lane.waiting === 0 && this.#lanes.get(tenantId) === lane) this.#lanes.delete(tenantId)
  }

  #overloaded(limits: BulkheadLimits, why: 'full' | 'timeout' | 'aborted'): TenantryError {
    const reason =
      why === 'full' ? `${limits.maxConcurrent} requests in flight and ${limits.maxQueue} waiting`
      : why === 'timeout' ? `no slot came free within ${this.#queueTimeoutMs} ms`
      : 'the request was aborted while waiting'
    return new TenantryError('OVERLOADED', `Too many concurrent requests for this tenant (${reason}); retry later`, {
      headers: { 'Retry-After': retryAfterHeader(this.#retryAfterMs) },
    })
  }
}

function checkLimits(limits: unknown, path: string, issues: ValidationIssue[]): void {
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    issues.push({ path, message: 'must be an object { maxConcurrent?, maxQueue? }' })
    return
  }
  const l = limits as Record<string, unknown>
  if (l.maxConcurrent !== undefined) checkPositiveInteger(l.maxConcurrent, `${path}.maxConcurrent`, issues)
  if (l.maxQueue !== undefined) checkNonNegativeInteger(l.maxQueue, `${path}.maxQueue`, issues, Number.MAX_SAFE_INTEGER)
}
