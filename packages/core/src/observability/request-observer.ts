/**
 * Request observation for the HTTP adapters: one framework-free hook that
 * metrics, traces and the live view plug into. An adapter starts an
 * observation for each tenant route, tells it the tenant once resolved, runs
 * the handler chain through it (a tracer puts its span in context there) and
 * ends it once, when the response is finished or the client went away.
 */
import type { ScopedTenant } from '../context/index.ts'
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
  let result: R
  try {
    result = hook()
  } catch {
    return undefined
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    ;(result as unknown as PromiseLike<unknown>).then(undefined, () => undefined)
    return undefined
  }
  return result
}

/**
 * The handle an adapter holds for one observed request: it keeps the start
 * time and the tenant, and ends every observation exactly once.
 */
export class RequestHandle {
  readonly #request: ObservedRequest
  readonly #observation: RequestObservation
  readonly #start = performance.now()
  #tenant: Tenant | undefined
  #ended = false

  constructor(request: ObservedRequest, observation: RequestObservation) {
    this.#request = request
    this.#observation = observation
  }

  /** The tenant, once resolved. */
  setTenant(tenant: Tenant): void {
    this.#tenant = tenant
    const observation = this.#observation
    if (observation.tenant !== undefined) callSafely(() => observation.tenant!(tenant))
  }

  /**
   * Runs the handler chain through the observation (in a span's context, say).
   * The chain runs exactly once, and its own result or error stands,
   * whatever the observer does: throws before or after calling it, swallows
   * its error, returns something else, never calls it, or calls it twice.
   */
  run<R>(fn: () => R): R {
    const observation = this.#observation
    if (observation.run === undefined) return fn()
    let state: 'waiting' | 'returned' | 'threw' = 'waiting'
    let result: R | undefined
    let thrown: unknown
    const once = (): R => {
      if (state === 'returned') return result as R
      if (state === 'threw') throw thrown
      try {
        result = fn()
        state = 'returned'
        return result
      } catch (error) {
        state = 'threw'
        thrown = error
        throw error
      }
    }
    callSafely(() => observation.run!(once))
    return once()
  }

  /** Ends the observation with the status sent (499: the client went away); later calls do nothing. */
  end(status: number): void {
    if (this.#ended) return
    this.#ended = true
    const outcome: RequestOutcome = {
      method: this.#request.method,
      route: this.#request.route,
      status,
      tenant: this.#tenant,
      durationMs: performance.now() - this.#start,
      limited: status === 429,
      rejected: status === 503,
    }
    callSafely(() => this.#observation.end(outcome))
  }
}

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
  const observation = startSafely(observer, request)
  return observation === undefined ? undefined : new RequestHandle(request, observation)
}

/** `observer.start(input)`, or undefined when it throws: an observer's failure never fails what it watches. */
function startSafely<I, O>(observer: { start(input: I): O | undefined }, input: I): O | undefined {
  const observation = callSafely(() => observer.start(input))
  // Only an object with an `end` is an observation (an async start, a promise, is skipped).
  return typeof (observation as { end?: unknown } | undefined)?.end === 'function' ? observation : undefined
}

/** Starts each observer (skipping those that skip or throw); undefined when none started. */
function startEach<I, O>(observers: readonly { start(input: I): O | undefined }[], input: I): O[] | undefined {
  let started: O[] | undefined
  for (const observer of observers) {
    const observation = startSafely(observer, input)
    if (observation !== undefined) (started ??= []).push(observation)
  }
  return started
}

/** Ends each observation; one that throws does not stop the others. */
function endEach<A>(observations: readonly { end(outcome: A): void }[], outcome: A): void {
  // An observer's failure is its own: what it watches and the other observers go on.
  for (const observation of observations) callSafely(() => observation.end(outcome))
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
  return combined(observers, (started) => new CombinedObservation(started))
}

/** One observer over several: each started in turn (skipping those that skip or throw), `join` making one observation of two or more. */
function combined<I, O>(observers: readonly ({ start(input: I): O | undefined } | undefined)[], join: (started: readonly O[]) => O): { start(input: I): O | undefined } {
  const present = observers.filter((o): o is { start(input: I): O | undefined } => o !== undefined)
  if (present.length === 1) return present[0]!
  return {
    start(input) {
      const started = startEach(present, input)
      if (started === undefined) return undefined
      return started.length === 1 ? started[0] : join(started)
    },
  }
}

/** The observations of one request by several observers; prototype methods, so one object per request. */
class CombinedObservation implements RequestObservation {
  readonly #started: readonly RequestObservation[]

  constructor(started: readonly RequestObservation[]) {
    this.#started = started
  }

  tenant(tenant: Tenant): void {
    for (const o of this.#started) if (o.tenant !== undefined) callSafely(() => o.tenant!(tenant))
  }

  run<R>(fn: () => R): R {
    // Only the observers that run the handler wrap it (a tracer without an SDK does not); the first one outermost.
    let next = fn
    const started = this.#started
    for (let i = started.length - 1; i >= 0; i--) {
      const o = started[i]!
      if (o.run === undefined) continue
      const inner = next
      next = () => o.run!(inner)
    }
    return next()
  }

  end(outcome: RequestOutcome): void {
    endEach(this.#started, outcome)
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
  const observation: RequestObservation = {
    end(outcome) {
      if (outcome.tenant === undefined) return
      live.record(outcome.tenant.id, outcome)
    },
  }
  // Stateless: one observation serves every request.
  return { start: () => observation }
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
    endEach(this.#started, outcome)
  }
}
