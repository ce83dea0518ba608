/**
 * Request observation for the HTTP adapters: one framework-free hook that
 * metrics, traces and the live view plug into. An adapter starts an
 * observation for each tenant route, tells it the tenant once resolved, runs
 * the handler chain through it (a tracer puts its span in context there) and
 * ends it once, when the response is finished or the client went away.
 */
import { performance } from 'node:perf_hooks'
import type { ScopedTenant } from '../context/index.ts'
import { currentScope, runInScope, startedInScope } from '../context/tenant-context.ts'
import { validationError } from '../errors/index.ts'
import type { Tenant } from '../tenant/model.ts'

/** A tenant request as an observer first sees it. */
export interface ObservedRequest {
  readonly method: string
  /** The route pattern when the framework knows it before routing (Fastify), else the path. */
  readonly route: string
}

/** How a request ended. */
export interface RequestOutcome {
  readonly method: string
  readonly route: string
  /** The status sent; 499 when the client went away before the response was finished. */
  readonly status: number
  /** The resolved tenant; undefined when resolution failed (unknown tenant, no tenant in the request). */
  readonly tenant: Tenant | undefined
  /** Milliseconds from the start of the observation (before resolution) to the end. */
  readonly durationMs: number
  /** A 429: refused by the rate limiter. */
  readonly limited: boolean
  /** A 503: refused by the bulkhead (or the tenant's capacity otherwise). */
  readonly rejected: boolean
}

/** One request's observation, as an observer returns it from `start`. */
export interface RequestObservation {
  /** The request's tenant, once resolved (not called when resolution fails). */
  tenant?(tenant: Tenant): void
  /** Runs the rest of the request (the handler chain); a tracer runs it in its span's context. */
  run?<R>(fn: () => R): R
  /** Called once, when the response is finished or the client went away. */
  end(outcome: RequestOutcome): void
}

/**
 * Something that watches tenant requests: metrics, a tracer, the live view.
 * `start` is called for every request on a tenant route (not for excluded
 * paths) before its tenant is resolved; return undefined to skip it. Keep it
 * cheap: it runs on every request.
 *
 * @example
 * const counter: RequestObserver = {
 *   start: () => ({ end: (o) => console.log(o.tenant?.slug, o.status, o.durationMs) }),
 * }
 * await app.register(tenantryFastify, { resolution, observer: counter })
 */
export interface RequestObserver {
  start(request: ObservedRequest): RequestObservation | undefined
}

/**
 * Calls an observer's hook and keeps its failure to itself: a throw, and the
 * rejection of a promise it returns (an `async` hook), are swallowed, so no
 * observer can fail, change or crash what it watches.
 *
 * @example
 * callSafely(() => observation.end(outcome))
 */
export function callSafely<R>(hook: () => R): R | undefined {
  try {
    const result = hook()
    // Inside the try: a `then` getter that throws, or a revoked Proxy, is the hook's failure too.
    if (!isThenable(result)) return result
    swallow(result)
  } catch {
    // The hook's failure is its own.
  }
  return undefined
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
}

const ignore = (): undefined => undefined

/** The rejection of a promise an `async` hook returned is the hook's own: caught here. */
function swallow(result: unknown): void {
  if (isThenable(result)) result.then(undefined, ignore)
}

// The hooks below are called inline (no closure per call): they run on every request and query.

/** `observation.end(outcome)`; a throw or a rejected promise is ignored. */
function endSafely<A>(observation: { end(outcome: A): void }, outcome: A): void {
  try {
    swallow(observation.end(outcome))
  } catch {
    // An observer's failure is its own: what it watches and the other observers go on.
  }
}

/**
 * The outcome one observer is given: a copy of its own, plain data, so nothing
 * one observer does to it reaches another observer or the adapter's handle.
 * (A copy, not a frozen object: freezing is a call into the engine's runtime
 * on every request, a copy a few field stores.) Copied from a `RequestHandle`
 * or from a snapshot (both hold every field as their own data), so nothing on a
 * prototype runs while copying. Read inside the caller's try.
 */
function copyOutcome(outcome: RequestOutcome): RequestOutcome {
  return {
    method: outcome.method,
    route: outcome.route,
    status: outcome.status,
    tenant: outcome.tenant,
    durationMs: outcome.durationMs,
    limited: outcome.limited,
    rejected: outcome.rejected,
  }
}

/** `observation.end(copy of outcome)`; a throw (copying included) or a rejected promise is ignored. */
function endWithCopy(observation: RequestObservation, outcome: RequestOutcome): void {
  try {
    swallow(observation.end(copyOutcome(outcome)))
  } catch {
    // As endSafely.
  }
}

/** The same for a query's outcome (`outcome`: a snapshot, see CombinedQueryObservation.end). */
function endQueryWithCopy(observation: QueryObservation, outcome: QueryOutcome): void {
  try {
    swallow(observation.end({ tenant: outcome.tenant, durationMs: outcome.durationMs, failed: outcome.failed }))
  } catch {
    // As endSafely.
  }
}

/** `observation.tenant(tenant)` when it has one; a throw or a rejected promise is ignored. */
function tenantSafely(observation: RequestObservation, tenant: Tenant): void {
  try {
    // Read inside the try: a getter that throws is the observer's failure too.
    if (observation.tenant !== undefined) swallow(observation.tenant(tenant))
  } catch {
    // As endSafely.
  }
}

/**
 * Whether `observation` has the optional hook `key` (`tenant`, `run`), read
 * once where its failure is contained: a getter that throws counts as none.
 */
function hasHook(observation: RequestObservation, key: 'tenant' | 'run'): boolean {
  try {
    return observation[key] !== undefined
  } catch {
    return false
  }
}

/**
 * The handle an adapter holds for one observed request: it keeps the start
 * time and the tenant and ends every observation exactly once. At the end it
 * holds the request's `RequestOutcome`; each observer is given a copy of its
 * own (plain data), never the handle, so no observer can change what another
 * one counts or reach the adapter's handle.
 */
export class RequestHandle implements RequestOutcome {
  readonly method: string
  readonly route: string
  /** The status sent (0 until the end); 499 when the client went away first. */
  readonly status: number = 0
  readonly tenant: Tenant | undefined = undefined
  readonly durationMs: number = 0
  readonly limited: boolean = false
  readonly rejected: boolean = false
  /** The observation until the end; then a shared one, so a held outcome keeps nothing of it (a span, its context). */
  #observation: RequestObservation
  /** Whether the observation has a `run`, read once (see hasHook). */
  readonly #wraps: boolean
  readonly #start = performance.now()
  #ended = false

  static {
    // The adapter calls `run`, `wrapsHandler` and `end`: nobody patches them for every request.
    Object.freeze(this.prototype)
  }

  constructor(request: ObservedRequest, observation: RequestObservation) {
    this.method = request.method
    this.route = request.route
    this.#observation = observation
    this.#wraps = hasHook(observation, 'run')
  }

  /** The tenant, once resolved (ignored after the end: an ended outcome does not change). */
  setTenant(tenant: Tenant): void {
    if (this.#ended) return
    ;(this as Writable).tenant = tenant
    tenantSafely(this.#observation, tenant)
  }

  /**
   * True when the observation runs the handler chain itself (a tracer that
   * puts its span in context); false when `run(fn)` would only call `fn`, so
   * an adapter can call the chain directly, with no closure for it.
   *
   * @example
   * if (handle.wrapsHandler) runWithTenant(tenant, () => handle.run(next))
   * else runWithTenant(tenant, next)
   */
  get wrapsHandler(): boolean {
    return this.#wraps
  }

  /**
   * Runs the handler chain through the observation (in a span's context, say).
   * The chain runs exactly once, and its own result or error stands,
   * whatever the observer does: throws before or after calling it, swallows
   * its error, returns something else, never calls it, or calls it twice.
   */
  run<R>(fn: () => R): R {
    // After the end (an observer holding the outcome, say) nothing runs in the request's context again.
    if (!this.#wraps || this.#ended) return fn()
    return runThrough(this.#observation, fn)
  }

  /** Ends the observation with the status sent (499: the client went away); later calls do nothing. */
  end(status: number): void {
    if (this.#ended) return
    this.#ended = true
    const self = this as Writable
    self.status = status
    self.durationMs = performance.now() - this.#start
    self.limited = status === 429
    self.rejected = status === 503
    const observation = this.#observation
    this.#observation = ENDED
    // Observers get copies, never the handle: one cannot rewrite what the next one counts, nor give the
    // handle a `run` of its own for the adapter to call (the tenant in a copy is the directory's deep-frozen one).
    // A brand check, not instanceof (a prototype can be borrowed, a private field cannot), and the combined
    // observation's own loop called directly, not its `end` looked up (which a caller could have replaced).
    if (isCombinedObservation(observation)) endCombined(observation, this)
    else endWithCopy(observation, this)
  }
}

/**
 * `observation.run(fn)`, guarded: `fn` runs exactly once, in the tenant scope
 * it was handed in, and its own result or error stands, whatever the
 * observation does (throws before or after calling it, swallows its error,
 * returns something else, never calls it, calls it twice, or calls it inside
 * another tenant's scope). Used for the handle's observation and for each level of a
 * combined one, so no observer's `run` can run, skip or lie to the next.
 */
function runThrough<R>(observation: RequestObservation, fn: () => R): R {
  let state: 'waiting' | 'returned' | 'threw' = 'waiting'
  let result: R | undefined
  let thrown: unknown
  // The tenant scope the chain was handed in: the chain runs in it, whatever scope the observer entered around it.
  const scope = currentScope()
  const once = (): R => {
    if (state === 'returned') return result as R
    if (state === 'threw') throw thrown
    try {
      // A lazy thenable (a Prisma or Drizzle query) is started here, in that scope: not by the observer, elsewhere.
      result = currentScope() === scope ? startedInScope(fn()) : runInScope(scope, () => startedInScope(fn()))
      state = 'returned'
      return result
    } catch (error) {
      state = 'threw'
      thrown = error
      throw error
    }
  }
  try {
    const returned = observation.run!(once)
    // The chain's own result is not the observer's to settle: a lazy one would be started a second time.
    if ((state as string) !== 'returned' || returned !== result) swallow(returned)
  } catch {
    // The chain's own outcome stands: once() below gives it (or runs it, if the observer did not).
  }
  return once()
}

/** What an ended handle holds instead of its observation. */
const ENDED: RequestObservation = Object.freeze({ end: () => undefined })

/** The outcome's fields, as the handle itself sets them (once, at the end; the tenant before). */
type Writable = { -readonly [K in keyof RequestOutcome]: RequestOutcome[K] }

/**
 * Starts observing a request: undefined (and nothing allocated) without an
 * observer or when the observer skips it.
 *
 * @example
 * const handle = observeRequest(options.observer, { method: req.method, route: path })
 * res.once('close', () => handle?.end(res.writableFinished ? res.statusCode : 499))
 */
export function observeRequest(observer: RequestObserver | undefined, request: ObservedRequest): RequestHandle | undefined {
  if (observer === undefined) return undefined
  // Read once, before any observer runs: the observers get a copy (the adapter keeps its own request for
  // admission), and the handle is made from what was read, whatever an observer does to its copy.
  const method = request.method
  const route = request.route
  const observation = startSafely(observer, { method, route })
  return observation === undefined ? undefined : new RequestHandle({ method, route }, observation)
}

/** `observer.start(input)`, or undefined when it throws: an observer's failure never fails what it watches. */
function startSafely<I, O>(observer: { start(input: I): O | undefined }, input: I): O | undefined {
  try {
    const observation = observer.start(input)
    if (observation === undefined) return undefined
    // Only an object with an `end` is an observation (an async start, a promise, is skipped; its rejection caught).
    // Read inside the try: a getter that throws, or a revoked Proxy, is skipped like a throwing start.
    if (typeof (observation as { end?: unknown } | null)?.end === 'function') return observation
    swallow(observation)
  } catch {
    // The observer's failure is its own: what it watches goes on unobserved.
  }
  return undefined
}

/**
 * Starts observing a query: the observation, or undefined when the observer
 * skips it or throws (the query then runs unobserved).
 *
 * @example
 * const observation = startQueryObservation(stats.observer, scope.tenant)
 */
export function startQueryObservation(observer: QueryObserver, tenant: ScopedTenant): QueryObservation | undefined {
  return startSafely(observer, tenant)
}

/**
 * Ends a query's observation; an observer that throws (or rejects) is ignored.
 *
 * @example
 * endQueryObservation(observation, { tenant, durationMs, failed: false })
 */
export function endQueryObservation(observation: QueryObservation, outcome: QueryOutcome): void {
  endSafely(observation, outcome)
}

/**
 * One observer made of several (metrics, tracing, the live view): each is
 * started in turn, runs nest in order (the first one's context outermost),
 * and each ends once. An observer that throws does not stop the others or
 * the request.
 *
 * @example
 * const observer = combineObservers(metrics.observer(), tracing.observer(), liveViewObserver(live))
 */
export function combineObservers(...observers: readonly (RequestObserver | undefined)[]): RequestObserver {
  return combined(observers, (started) => new CombinedObservation(started), copyRequest)
}

/** Each observer's own copy of the request it is shown: one cannot change what the next one sees. */
function copyRequest(request: ObservedRequest): ObservedRequest {
  return { method: request.method, route: request.route }
}

/**
 * The observations of observers made by `steadyObserver`, by observer: each
 * gives every request (or query) the same observation, so a combined
 * observer uses it without calling their `start` (or copying the request for
 * them) each time.
 */
const steadyObservations = new WeakMap<object, object>()

/**
 * An observer that gives every request (or query) the same observation: for
 * counters that keep nothing per request (metrics, the live view).
 * `combineObservers` and `combineQueryObservers` take its observation once,
 * when they are made, and never call its `start` per request, so it costs
 * them nothing until the end. What it hands out is a frozen wrapper that
 * calls the observation's `end` (so nothing the object grows later is seen).
 *
 * @example
 * const counting = steadyObserver<RequestObservation>({ end: (o) => count(o.tenant?.id, o.status) })
 * const observer = combineObservers(counting, tracing.observer())
 */
export function steadyObserver<O extends object>(observation: O): { start(input?: unknown): O } {
  let hooks: { end?: unknown; tenant?: unknown; run?: unknown }
  try {
    const given = observation as { end?: unknown; tenant?: unknown; run?: unknown } | null
    hooks = { end: given?.end, tenant: given?.tenant, run: given?.run }
  } catch {
    hooks = {}
  }
  if (typeof hooks.end !== 'function') {
    throw validationError([{ path: 'observation', message: 'must be an observation: an object with an end(outcome) function' }])
  }
  // One observation serves every request at once: a `tenant` or `run` hook would mix up concurrent requests.
  if (hooks.tenant !== undefined || hooks.run !== undefined) {
    throw validationError([{ path: 'observation', message: 'must have only an end(outcome) hook: one observation serves every request, so a tenant or run hook would mix requests up (return a new observation from start instead)' }])
  }
  // Handed out as a frozen wrapper with only `end`: hooks the caller's object grows later (a getter) are never seen.
  const own = Object.freeze({ end: (outcome: unknown) => (observation as unknown as { end(o: unknown): void }).end(outcome) }) as unknown as O
  const observer = Object.freeze({ start: (_input?: unknown): O => own })
  steadyObservations.set(observer, own)
  return observer
}

/**
 * One observer over several: each started in turn (skipping those that skip
 * or throw), `join` making one observation of two or more. Steady observers
 * (`steadyObserver`) are not started: their observation is taken once, here.
 * When a request starts the same observations as the last one (steady
 * observers, and observers that hand out a shared observation), the same
 * joined observation is given again, so a request allocates nothing here.
 */
function combined<I, O>(observers: readonly ({ start(input: I): O | undefined } | undefined)[], join: (started: readonly O[]) => O, copy?: (input: I) => I): { start(input: I): O | undefined } {
  const present = observers.filter((o): o is { start(input: I): O | undefined } => o !== undefined)
  if (present.length === 1) return present[0]!
  // Each observer's steady observation (taken once, now), or undefined: one that is started per request.
  const steady = present.map((o) => steadyObservations.get(o) as O | undefined)
  let last: O[] | undefined
  let joined: O | undefined
  return {
    start(input) {
      // Compared with what the last call started (taken now: an observer's start may start another request).
      const previous = last
      const previousJoined = joined
      let started: O[] | undefined
      let same = previous !== undefined
      let n = 0
      for (let i = 0; i < present.length; i++) {
        const observation = steady[i] ?? startSafely(present[i]!, copy === undefined ? input : copy(input))
        if (observation === undefined) continue
        if (same && previous![n] === observation) {
          n++
          continue
        }
        if (same) {
          same = false
          started = previous!.slice(0, n)
        }
        ;(started ??= []).push(observation)
        n++
      }
      if (same) {
        if (n === previous!.length) return previousJoined
        started = previous!.slice(0, n)
      }
      if (started === undefined || started.length === 0) return undefined
      last = started
      joined = started.length === 1 ? started[0] : join(started)
      return joined
    },
  }
}

/** True for a CombinedObservation of this module (a private-field brand: no prototype or Symbol.hasInstance can fake it). */
let isCombinedObservation: (value: unknown) => value is CombinedObservation = (_value): _value is CombinedObservation => false
/** Ends every observation of a combined one with a copy of the handle's outcome each (its `#started`, not its `end`). */
let endCombined: (combined: CombinedObservation, handle: RequestHandle) => void = () => undefined

/**
 * The observations of one request by several observers. Holds nothing of the
 * request (so one can serve many); it has `tenant` and `run` only when one of
 * them has, so a request none of them wraps runs its handler directly.
 */
class CombinedObservation implements RequestObservation {
  readonly #started: readonly RequestObservation[]

  static {
    isCombinedObservation = (value) => typeof value === 'object' && value !== null && #started in value
    endCombined = (combined, handle) => {
      for (const o of combined.#started) endWithCopy(o, handle)
    }
    // Its methods stay its own: no caller patches what every combined observation does.
    Object.freeze(this.prototype)
  }
  /** The observations that run the handler (a tracer without an SDK does not), innermost first; read once. */
  readonly #wrapping: readonly RequestObservation[]
  readonly tenant?: (tenant: Tenant) => void
  readonly run?: <R>(fn: () => R) => R

  constructor(started: readonly RequestObservation[]) {
    this.#started = started
    if (started.some((o) => hasHook(o, 'tenant'))) this.tenant = (tenant) => {
      for (const o of this.#started) tenantSafely(o, tenant)
    }
    this.#wrapping = started.filter((o) => hasHook(o, 'run')).reverse()
    if (this.#wrapping.length > 0) this.run = (fn) => this.#run(fn)
  }

  #run<R>(fn: () => R): R {
    // The first observer's context outermost: built from the innermost out. Each level is guarded, so one
    // observer's `run` cannot run the next one's twice, skip it, or hand it anything but the chain's own outcome.
    let next = fn
    for (const o of this.#wrapping) {
      const inner = next
      next = () => runThrough(o, inner)
    }
    return next()
  }

  /**
   * Each observer gets a copy of its own, never `outcome` itself, so one
   * cannot rewrite what the next counts. The outcome is read once into a
   * snapshot first (its getters run once, before any observer). (A handle
   * ends its combined observation through `endCombined`, not here.)
   */
  end(outcome: RequestOutcome): void {
    let snapshot: RequestOutcome
    try {
      snapshot = copyOutcome(outcome)
    } catch {
      return
    }
    for (const o of this.#started) endWithCopy(o, snapshot)
  }
}

/**
 * The live view as a request observer: each ended request of a resolved
 * tenant is recorded (duration, status, limit hit, bulkhead rejection).
 *
 * @example
 * const live = new LiveView()
 * await app.register(tenantryFastify, { resolution, observer: liveViewObserver(live) })
 */
export function liveViewObserver(live: { record(tenantId: string, request: { durationMs: number; status: number; limited?: boolean; rejected?: boolean }): void }): RequestObserver {
  // Stateless: one observation serves every request.
  return steadyObserver<RequestObservation>({
    end(outcome) {
      if (outcome.tenant === undefined) return
      live.record(outcome.tenant.id, outcome)
    },
  })
}

/** How a query ended, as the driver tells each observation (one object shared by all). */
export interface QueryOutcome {
  /** The tenant whose scope ran it; its isolation model is `tenant.isolation`. */
  readonly tenant: ScopedTenant
  /** Milliseconds from just before the query was sent to its answer. */
  readonly durationMs: number
  /** True when it failed (a database error or a refusal). */
  readonly failed: boolean
}

/** One query's observation, as a `QueryObserver` returns it. */
export interface QueryObservation {
  /** Called once when the query is answered. */
  end(outcome: QueryOutcome): void
}

/**
 * Something that watches the queries run in a tenant scope (metrics, a
 * tracer): `start` is called before each query of a tenant (Kysely,
 * `pool.query`, a scoped client's `query`) with the tenant; its isolation
 * model is `tenant.isolation`. The driver times the query; an observer that
 * only counts can return one shared observation and allocate nothing. Give it
 * to `new TenantData(models, { queryObserver })` or
 * `createTenantry({ observe: { queries } })`. Queries of the system scope are
 * not observed; an observer that throws is skipped, and the query goes on.
 *
 * @example
 * const counting: QueryObservation = { end: (o) => record(o.tenant.id, o.durationMs, o.failed) }
 * const observer: QueryObserver = { start: () => counting }
 */
export interface QueryObserver {
  start(tenant: ScopedTenant): QueryObservation | undefined
}

/**
 * One query observer made of several; an observer that throws is skipped.
 * When two or more observe a query, each gets a copy of the outcome of its
 * own (so one cannot rewrite what the next counts).
 *
 * @example
 * const queryObserver = combineQueryObservers(metrics.queryObserver(), tracing.queryObserver())
 */
export function combineQueryObservers(...observers: readonly (QueryObserver | undefined)[]): QueryObserver {
  return combined(observers, (started) => new CombinedQueryObservation(started))
}

/** The observations of one query by several observers. */
class CombinedQueryObservation implements QueryObservation {
  readonly #started: readonly QueryObservation[]

  constructor(started: readonly QueryObservation[]) {
    this.#started = started
  }

  end(outcome: QueryOutcome): void {
    // A copy for each observer, from a snapshot read once before any of them runs: one cannot rewrite what
    // the next one counts, and nothing it installs (a getter on a prototype) runs on what the next one gets.
    // (A lone observer gets the driver's fresh object, which nothing reads after it.)
    let snapshot: QueryOutcome
    try {
      snapshot = { tenant: outcome.tenant, durationMs: outcome.durationMs, failed: outcome.failed }
    } catch {
      return
    }
    for (const o of this.#started) endQueryWithCopy(o, snapshot)
  }
}
