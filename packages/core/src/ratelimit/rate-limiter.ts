import { performance } from 'node:perf_hooks'
import { prepareRefusal, TenantryError, validationError, type PreparedRefusal, type ValidationIssue } from '../errors/index.ts'
import { answeredBy } from '../errors/refusal.ts'
import { silentLogger, type FairShareLogger } from '../fair-share/logger.ts'
import { StoreGuard, type StoreGuardStats } from '../fair-share/store-guard.ts'
import { assertFairShareTenant, checkNonNegativeInteger, checkPositiveInteger, WarnedOnce, type FairShareTenant } from '../fair-share/tenant.ts'
import type { RateLimitDecision, RateLimitStore } from './contract.ts'
import { delaySeconds, rateLimitPolicyHeader, retryAfterHeader, sfString } from './headers.ts'
import { checkBucket, checkPlans, MAX_SLOTS, readOverride, type RateLimitPlan, type RateLimitPolicy } from './policy.ts'

/** What the limiter does when its store fails or is too slow. */
export type StoreErrorMode = 'open' | 'closed'

export interface RateLimiterOptions {
  readonly store: RateLimitStore
  /** Limits per plan: `{ free: { limit: 100, windowMs: 60_000 }, pro: { … } }`. */
  readonly plans: Readonly<Record<string, RateLimitPlan>>
  /** The plan used for a tenant whose plan is not in `plans`; it must be there. */
  readonly defaultPlan?: string
  /** Counter name, so several limiters (an API-wide one, an export one) count apart. */
  readonly bucket?: string
  /** Sub-windows per window; bounds how late a unit stops counting (docs/limits.md). */
  readonly slots?: number
  /** `tenant.settings[settingsKey]` may override the plan: `{ limit?, windowMs? }`. */
  readonly settingsKey?: string
  /** Store down or slow: `'open'` admits (with a warning and a counter), `'closed'` refuses. */
  readonly onStoreError?: StoreErrorMode
  /** A store check slower than this counts as a store error. */
  readonly timeoutMs?: number
  /** After a store error, checks skip the store this long before one probes it again. */
  readonly cooldownMs?: number
  /** `Retry-After` when failing closed. */
  readonly closedRetryAfterMs?: number
  /**
   * With a store elsewhere (Redis): once the store refuses a tenant until time
   * T, refuse it here until T without asking the store again (a noisy tenant's
   * refused requests then cost no round trip). It only ever refuses, so it can
   * never admit more than the shared limit; a request it refuses is one the
   * store would have refused for a cost as large, and at most as long as the
   * store said. Default true; the in-memory store is asked directly.
   */
  readonly localDeny?: boolean
  /** Most tenants (and buckets) the local deny list holds; default 10,000. */
  readonly localDenyMax?: number
  /**
   * With the local deny list: for one window after the store's refusal ends,
   * let the tenant ask the store at most once per `windowMs / limit` (its
   * fair pace; times the cost) and refuse the rest here. A tenant flooding past
   * its limit then gets its units evenly through each window instead of all
   * at once when old units leave it, so its admitted requests do not arrive
   * in bursts that its neighbours feel. Only refuses: never admits more than
   * the store would. Default true.
   */
  readonly localPace?: boolean
  /**
   * The clock the local deny list and pacing run on, in ms: monotonic, so a
   * wall clock stepped back (NTP, a VM resumed) cannot stretch a refusal.
   * Default `performance.now`; a test may pass its own.
   */
  readonly monotonicNow?: () => number
  /**
   * What `refusal()` (the answer adapters send right after resolution, before
   * authentication) tells the caller: `'full'` (the default, the contract of
   * docs/limits.md) sends `Retry-After`, `RateLimit-Policy` and `RateLimit`, so
   * anyone who can name a tenant that is over its limit learns its plan's name
   * and limit; `'retry-after'` sends `Retry-After` alone and a message without
   * the limit, for plans whose names or sizes are not public. Authenticated
   * answers (`check`) always carry the full headers.
   */
  readonly earlyRefusal?: 'full' | 'retry-after'
  readonly logger?: FairShareLogger
}

export interface CheckOptions {
  /** Units this request spends (default 1; 0 only looks). */
  readonly cost?: number
  /** Overrides the limiter's bucket for this check. */
  readonly bucket?: string
}

/** A check's outcome: the decision, the policy it was made under, and the headers to send. */
export interface RateLimitResult extends RateLimitDecision {
  readonly policy: RateLimitPolicy
  /** True when the store could not be asked and `onStoreError` decided. */
  readonly degraded: boolean
  /** `RateLimit-Policy` and `RateLimit` (not when degraded), plus `Retry-After` when refused. */
  readonly headers: Readonly<Record<string, string>>
}

export interface RateLimiterStats {
  readonly checks: number
  readonly allowed: number
  readonly refused: number
  /** Checks admitted because the store failed and `onStoreError` is `'open'`. */
  readonly failedOpen: number
  /** Checks refused because the store failed and `onStoreError` is `'closed'`. */
  readonly failedClosed: number
  /** Of `refused`, those refused from the local deny list, without asking the store. */
  readonly refusedLocally: number
  readonly store: StoreGuardStats
}

/**
 * Per-tenant rate limits: a limit per plan, overridable per tenant from its
 * catalog settings, counted in a sliding window by a `RateLimitStore` (in memory,
 * or Redis for a limit shared by every instance). See docs/limits.md.
 *
 * @example
 * const limiter = new RateLimiter({
 *   store: new RedisRateLimitStore({ redis }),
 *   plans: { default: { limit: 100, windowMs: 60_000 }, pro: { limit: 1000, windowMs: 60_000 } },
 * })
 * const result = await limiter.check(tenant)
 * for (const [name, value] of Object.entries(result.headers)) reply.header(name, value)
 * if (!result.allowed) throw rateLimitedError(result)
 */
export class RateLimiter {
  readonly store: RateLimitStore
  readonly #plans: Readonly<Record<string, RateLimitPlan>>
  readonly #defaultPlan: string
  readonly #bucket: string
  readonly #slots: number
  readonly #settingsKey: string
  readonly #mode: StoreErrorMode
  readonly #closedRetryAfterMs: number
  readonly #logger: FairShareLogger
  readonly #guard: StoreGuard
  readonly #warned = new WarnedOnce()
  readonly #planPolicies = new Map<string, Map<string, RateLimitPolicy>>()
  #checks = 0
  #allowed = 0
  #refused = 0
  #failedOpen = 0
  #failedClosed = 0
  #refusedLocally = 0
  /** Tenant and bucket -> until when the store refused it (local clock), in refusal order. */
  readonly #denied = new Map<string, DenyEntry>()
  readonly #localDeny: boolean
  readonly #localDenyMax: number
  readonly #localPace: boolean
  readonly #now: () => number
  readonly #earlyRefusalFull: boolean

  constructor(options: RateLimiterOptions) {
    if (typeof options !== 'object' || options === null) throw validationError([{ path: 'options', message: 'must be an object' }])
    const {
      store, plans, defaultPlan = 'default', bucket = 'default', slots = 10, settingsKey = 'rateLimit',
      onStoreError = 'open', timeoutMs = 100, cooldownMs = 1000, closedRetryAfterMs = 1000, logger = silentLogger,
      localDeny = true, localDenyMax = 10_000, localPace = true, monotonicNow = defaultMonotonicNow, earlyRefusal = 'full',
    } = options
    const issues: ValidationIssue[] = []
    if (typeof store?.consume !== 'function') issues.push({ path: 'options.store', message: 'must be a RateLimitStore (a consume() method)' })
    checkPlans(plans, defaultPlan, issues)
    if (typeof bucket !== 'string' || bucket.length === 0 || bucket.length > 100) issues.push({ path: 'options.bucket', message: 'must be a string of 1 to 100 characters' })
    checkPositiveInteger(slots, 'options.slots', issues, MAX_SLOTS)
    if (typeof settingsKey !== 'string' || settingsKey.length === 0) issues.push({ path: 'options.settingsKey', message: 'must be a non-empty string' })
    if (onStoreError !== 'open' && onStoreError !== 'closed') issues.push({ path: 'options.onStoreError', message: "must be 'open' or 'closed'" })
    checkNonNegativeInteger(timeoutMs, 'options.timeoutMs', issues)
    checkNonNegativeInteger(cooldownMs, 'options.cooldownMs', issues)
    checkPositiveInteger(closedRetryAfterMs, 'options.closedRetryAfterMs', issues, 2_147_483_647)
    if (typeof logger?.warn !== 'function') issues.push({ path: 'options.logger', message: 'must have a warn(details, message) method' })
    if (typeof localDeny !== 'boolean') issues.push({ path: 'options.localDeny', message: 'must be true or false' })
    if (typeof localPace !== 'boolean') issues.push({ path: 'options.localPace', message: 'must be true or false' })
    checkPositiveInteger(localDenyMax, 'options.localDenyMax', issues, 10_000_000)
    if (typeof monotonicNow !== 'function') issues.push({ path: 'options.monotonicNow', message: 'must be a function returning milliseconds' })
    if (earlyRefusal !== 'full' && earlyRefusal !== 'retry-after') issues.push({ path: 'options.earlyRefusal', message: "must be 'full' or 'retry-after'" })
    if (issues.length > 0) throw validationError(issues)
    this.store = store
    this.#plans = { ...plans }
    this.#defaultPlan = defaultPlan
    this.#bucket = bucket
    this.#slots = slots
    this.#settingsKey = settingsKey
    this.#mode = onStoreError
    this.#closedRetryAfterMs = closedRetryAfterMs
    this.#logger = logger
    this.#guard = new StoreGuard({ name: 'rate-limit store', timeoutMs, cooldownMs, logger })
    this.#localDeny = localDeny
    this.#localDenyMax = localDenyMax
    this.#localPace = localPace
    this.#now = monotonicNow
    this.#earlyRefusalFull = earlyRefusal === 'full'
  }

  /** The policy that applies to `tenant` (plan, then its settings override). */
  policyFor(tenant: FairShareTenant, bucket: string = this.#bucket): RateLimitPolicy {
    const planName = tenant.plan !== undefined && Object.hasOwn(this.#plans, tenant.plan) ? tenant.plan : this.#defaultPlan
    const override = readOverride(tenant, this.#settingsKey)
    if (Array.isArray(override)) {
      if (this.#warned.first(tenant.id)) {
        this.#logger.warn({ tenantId: tenant.id, issues: override }, `ignoring the tenant's malformed settings.${this.#settingsKey}; its plan "${planName}" applies`)
      }
    } else if (override !== undefined) {
      const plan = this.#plans[planName] as RateLimitPlan
      return this.#policy(planName, bucket, override.limit ?? plan.limit, override.windowMs ?? plan.windowMs, 'tenant')
    }
    // Plan policies are made once: a check then allocates no policy and formats no policy header.
    let byBucket = this.#planPolicies.get(planName)
    if (byBucket === undefined) {
      byBucket = new Map()
      this.#planPolicies.set(planName, byBucket)
    }
    let policy = byBucket.get(bucket)
    if (policy === undefined) {
      const plan = this.#plans[planName] as RateLimitPlan
      policy = this.#policy(planName, bucket, plan.limit, plan.windowMs, 'plan')
      if (byBucket.size < 1000) byBucket.set(bucket, policy)
    }
    return policy
  }

  #policy(planName: string, bucket: string, limit: number, windowMs: number, source: 'plan' | 'tenant'): RateLimitPolicy {
    const name = bucket === 'default' ? planName : `${planName}/${bucket}`
    return Object.freeze({ name, limit, windowMs, slots: this.#slots, bucket, source, header: rateLimitPolicyHeader(name, limit, windowMs), quotedName: sfString(name) })
  }

  /**
   * Spends `cost` units of the tenant's limit if they fit, and says so. Never
   * throws for a refused or a failed store check: read `allowed` (or use
   * `rateLimitedError(result)`); throws VALIDATION_FAILED for bad arguments.
   */
  async check(tenant: FairShareTenant, options: CheckOptions = {}): Promise<RateLimitResult> {
    assertFairShareTenant(tenant, 'RateLimiter.check')
    const cost = options.cost ?? 1
    if (!Number.isSafeInteger(cost) || cost < 0) throw validationError([{ path: 'cost', message: 'must be a non-negative integer' }])
    const bucket = options.bucket === undefined ? this.#bucket : checkBucket(options.bucket, 'bucket')
    const policy = this.policyFor(tenant, bucket)
    this.#checks++
    const target = { tenantId: tenant.id, bucket }
    if (this.store.consumeNow !== undefined) return this.#decided(policy, this.store.consumeNow(target, policy, cost))
    const denyKey = this.#localDeny && cost > 0 ? denyKeyOf(tenant.id, bucket) : undefined
    if (denyKey !== undefined) {
      const refused = this.#refusedHere(denyKey, policy, cost)
      if (refused !== undefined) return refused
    }
    const outcome = await this.#guard.run(() => this.store.consume(target, policy, cost))
    if (!outcome.ok) return this.#fallback(policy)
    if (denyKey !== undefined && !outcome.value.allowed && outcome.value.retryAfterMs > 0) this.#deny(denyKey, policy, outcome.value, cost)
    return this.#decided(policy, outcome.value)
  }

  /**
   * The refusal this process already holds for the tenant (the local deny
   * list), decided at once, with no I/O and nothing spent: the answer `check`
   * would give from the list (`RATE_LIMITED`, `Retry-After` and the rate-limit
   * headers, with the time left), prepared once per second of time left and
   * shared by every request it refuses (with `earlyRefusal: 'retry-after'`,
   * `Retry-After` alone). Undefined when the store has to be
   * asked: the tenant is not on the list, the check is a look (`cost: 0`), the
   * list is off, or the store is in this process (`MemoryRateLimitStore`).
   * Counted in `stats()` as a check refused locally. HTTP adapters ask it right
   * after resolving the tenant (docs/limits.md).
   *
   * @example
   * const refusal = limiter.refusal(tenant)
   * if (refusal) return reply.code(refusal.status).headers(refusal.headers).type('application/json; charset=utf-8').send(refusal.body)
   */
  refusal(tenant: FairShareTenant, options: CheckOptions = {}): PreparedRefusal | undefined {
    assertFairShareTenant(tenant, 'RateLimiter.refusal')
    if (!this.#localDeny || this.#denied.size === 0 || this.store.consumeNow !== undefined) return undefined
    const cost = options.cost ?? 1
    if (!Number.isSafeInteger(cost) || cost <= 0) return undefined
    const bucket = options.bucket === undefined ? this.#bucket : checkBucket(options.bucket, 'bucket')
    const entry = this.#denied.get(denyKeyOf(tenant.id, bucket))
    if (entry === undefined) return undefined
    const policy = this.policyFor(tenant, bucket)
    const now = this.#now()
    if (entry.policyHeader !== policy.header) return undefined
    let retryMs: number
    let resetMs: number
    let remaining: number
    if (now < entry.until && cost < entry.cost) {
      // A smaller request than the one refused may fit: the store decides.
      return undefined
    } else if (now < entry.until) {
      // Denied: the store's refusal, with the time left.
      retryMs = entry.until - now
      resetMs = Math.max(retryMs, entry.decision.resetMs - (now - entry.since))
      remaining = entry.decision.remaining
    } else if (now < entry.paceUntil && now < entry.next) {
      // Paced: another request of the tenant asked the store less than its pace ago.
      retryMs = entry.next - now
      resetMs = retryMs
      remaining = 0
    } else {
      return undefined
    }
    const retrySeconds = Math.max(1, delaySeconds(retryMs))
    const resetSeconds = delaySeconds(resetMs)
    this.#checks++
    this.#refused++
    this.#refusedLocally++
    let prepared = entry.prepared
    if (prepared === undefined || entry.preparedRetry !== retrySeconds || entry.preparedReset !== resetSeconds || entry.preparedRemaining !== remaining) {
      prepared = this.#earlyRefusalFull
        ? prepareRefusal('RATE_LIMITED', rateLimitedMessage(entry.decision.limit, policy.windowMs, retrySeconds, false), {
          'RateLimit-Policy': policy.header,
          RateLimit: `${policy.quotedName};r=${remaining};t=${resetSeconds}`,
          'Retry-After': String(retrySeconds),
        })
        // Sent before authentication: when to come back, and nothing of the plan.
        : prepareRefusal('RATE_LIMITED', `Rate limit exceeded; retry in ${retrySeconds} s`, { 'Retry-After': String(retrySeconds) })
      entry.prepared = prepared
      entry.preparedRetry = retrySeconds
      entry.preparedReset = resetSeconds
      entry.preparedRemaining = remaining
    }
    return prepared
  }

  /**
   * A refusal from the local list: the store's own while it holds, with the
   * time left; then, while pacing, one for a request that comes sooner than its
   * pace after the last one let through. Undefined when the store decides: a
   * request let through while pacing takes its turn (the next waits `cost` ×
   * the pace). The entry goes when pacing is over or the policy changed.
   */
  #refusedHere(key: string, policy: RateLimitPolicy, cost: number): RateLimitResult | undefined {
    const entry = this.#denied.get(key)
    if (entry === undefined) return undefined
    const now = this.#now()
    if (now >= entry.paceUntil || entry.policyHeader !== policy.header) {
      this.#denied.delete(key)
      return undefined
    }
    // The store's retry time is for a request of the refused cost: a smaller one may fit before it.
    if (now < entry.until && cost < entry.cost) return undefined
    if (now < entry.until) {
      this.#refusedLocally++
      const left = entry.until - now
      const elapsed = now - entry.since
      return this.#decided(policy, { ...entry.decision, retryAfterMs: left, resetMs: Math.max(left, entry.decision.resetMs - elapsed), at: Date.now() })
    }
    if (now < entry.next) {
      this.#refusedLocally++
      const left = entry.next - now
      return this.#decided(policy, { allowed: false, limit: entry.decision.limit, remaining: 0, resetMs: left, retryAfterMs: left, at: Date.now() })
    }
    entry.next = now + entry.paceMs * cost
    return undefined
  }

  /** Remembers the store's refusal of a request of `cost` until its retry time (the local clock). */
  #deny(key: string, policy: RateLimitPolicy, decision: RateLimitDecision, cost: number): void {
    this.#denied.delete(key)
    if (this.#denied.size >= this.#localDenyMax) {
      // The oldest refusal goes first: it is the nearest to its end.
      const oldest = this.#denied.keys().next().value
      if (oldest !== undefined) this.#denied.delete(oldest)
    }
    const since = this.#now()
    const until = since + decision.retryAfterMs
    this.#denied.set(key, {
      since,
      until,
      cost,
      decision,
      policyHeader: policy.header,
      paceUntil: this.#localPace ? until + policy.windowMs : until,
      paceMs: policy.windowMs / policy.limit,
      next: until,
      prepared: undefined,
      preparedRetry: 0,
      preparedReset: 0,
      preparedRemaining: 0,
    })
  }

  #decided(policy: RateLimitPolicy, decision: RateLimitDecision): RateLimitResult {
    if (decision.allowed) this.#allowed++
    else this.#refused++
    return {
      allowed: decision.allowed,
      limit: decision.limit,
      remaining: decision.remaining,
      resetMs: decision.resetMs,
      retryAfterMs: decision.retryAfterMs,
      at: decision.at,
      policy,
      degraded: false,
      headers: headersFor(policy, decision),
    }
  }

  /**
   * Like `check`, but throws RATE_LIMITED (429, with `Retry-After` and the
   * rate-limit headers) when refused.
   *
   * @example
   * const { headers } = await limiter.consume(tenant, { cost: 5 })
   */
  async consume(tenant: FairShareTenant, options: CheckOptions = {}): Promise<RateLimitResult> {
    const result = await this.check(tenant, options)
    if (!result.allowed) throw rateLimitedError(result)
    return result
  }

  stats(): RateLimiterStats {
    return {
      checks: this.#checks,
      allowed: this.#allowed,
      refused: this.#refused,
      failedOpen: this.#failedOpen,
      failedClosed: this.#failedClosed,
      refusedLocally: this.#refusedLocally,
      store: this.#guard.stats(),
    }
  }

  #fallback(policy: RateLimitPolicy): RateLimitResult {
    const policyHeader = policy.header
    const at = Date.now()
    if (this.#mode === 'open') {
      this.#failedOpen++
      // Nothing was counted: the full quota, reset now (RateLimit: r=q;t=0), on every admitted response.
      const open = { allowed: true, limit: policy.limit, remaining: policy.limit, resetMs: 0, retryAfterMs: 0, at }
      return { ...open, policy, degraded: true, headers: headersFor(policy, open) }
    }
    this.#failedClosed++
    const closed = { allowed: false, limit: policy.limit, remaining: 0, resetMs: this.#closedRetryAfterMs, retryAfterMs: this.#closedRetryAfterMs, at }
    return { ...closed, policy, degraded: true, headers: headersFor(policy, closed) }
  }
}

const defaultMonotonicNow = (): number => performance.now()

/** The deny list's key of a tenant's bucket. */
function denyKeyOf(tenantId: string, bucket: string): string {
  return `${tenantId}\u0000${bucket}`
}

/**
 * A store's refusal held in this process until `until`; then, until
 * `paceUntil`, the tenant's pace: one request may ask the store at `next`,
 * and moves `next` on by `paceMs` per unit it costs. And the answer last
 * prepared from it.
 */
interface DenyEntry {
  readonly since: number
  readonly until: number
  /**
   * The refused request's cost. The store's retry time says when a request of
   * this cost fits: one of a smaller cost (after one that can never fit, cost
   * over the limit) may fit sooner, so it goes to the store.
   */
  readonly cost: number
  readonly decision: RateLimitDecision
  readonly policyHeader: string
  readonly paceUntil: number
  /** `windowMs / limit`: one unit's share of the window. */
  readonly paceMs: number
  next: number
  /** `refusal()`'s answer for the whole seconds and remaining units below; made again when one changes. */
  prepared: PreparedRefusal | undefined
  preparedRetry: number
  preparedReset: number
  preparedRemaining: number
}

function headersFor(policy: RateLimitPolicy, decision: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Policy': policy.header,
    RateLimit: `${policy.quotedName};r=${decision.remaining};t=${delaySeconds(decision.resetMs)}`,
  }
  if (!decision.allowed) headers['Retry-After'] = retryAfterHeader(decision.retryAfterMs)
  return headers
}

/**
 * The RATE_LIMITED error (429) for a refused check, carrying `Retry-After` and
 * the rate-limit headers for the adapter to send. Its message names the limit,
 * never the tenant or the store. Its answer is prepared (`preparedRefusalOf`),
 * the same bytes a refusal from the local deny list sends.
 *
 * @example
 * if (!result.allowed) throw rateLimitedError(result)
 */
export function rateLimitedError(result: RateLimitResult): TenantryError {
  const message = rateLimitedMessage(result.limit, result.policy.windowMs, Math.max(1, delaySeconds(result.retryAfterMs)), result.degraded)
  // Prepared like the local deny list's refusals, so a refusal answers the same bytes whichever decided it.
  const refusal = prepareRefusal('RATE_LIMITED', message, result.headers)
  return answeredBy(new TenantryError('RATE_LIMITED', message, { headers: refusal.headers }), refusal)
}

/** RATE_LIMITED's message: the limit and the wait, never the tenant or the store. */
function rateLimitedMessage(limit: number, windowMs: number, retrySeconds: number, degraded: boolean): string {
  return degraded
    ? `Rate limit could not be checked; retry in ${retrySeconds} s`
    : `Rate limit exceeded: ${limit} per ${Math.max(1, delaySeconds(windowMs))} s; retry in ${retrySeconds} s`
}
