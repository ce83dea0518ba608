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
    try {
      this.#observation.tenant?.(tenant)
    } catch {
      // An observer's failure never fails the request.
    }
  }

  /** Runs the handler chain through the observation (in a span's context, say). */
  run<R>(fn: () => R): R {
    return this.#observation.run === undefined ? fn() : this.#observation.run(fn)
  }

  /** Ends the observation with the status sent (499: the client went away); later calls do nothing. */
  end(status: number): void {
    if (this.#ended) return
    this.#ended = true
    try {
      this.#observation.end({
      method: this.#request.method,
      route: this.#request.route,
      status,
      tenant: this.#tenant,
      durationMs: performance.now() - this.#start,
        limited: status === 429,
        rejected: status === 503,
      })
    } catch {
      // An observer's failure never fails the request.
    }
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
  const observation = observer.start(request)
  return observation === undefined ? undefined : new RequestHandle(request, observation)
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
  const present = observers.filter((o): o is RequestObserver => o !== undefined)
  if (present.length === 1) return present[0]!
  return {
    start(request) {
      const started: RequestObservation[] = []
      for (const observer of present) {
        const observation = observer.start(request)
        if (observation !== undefined) started.push(observation)
      }
      if (started.length === 0) return undefined
      if (started.length === 1) return started[0]
      return {
        tenant(tenant) {
          for (const o of started) o.tenant?.(tenant)
        },
        run<R>(fn: () => R): R {
          let next = fn
          for (let i = started.length - 1; i >= 0; i--) {
            const o = started[i]!
            if (o.run === undefined) continue
            const inner = next
            next = () => o.run!(inner)
          }
          return next()
        },
        end(outcome) {
          for (const o of started) {
            try {
              o.end(outcome)
            } catch {
              // An observer's failure is its own: the request and the other observers go on.
            }
          }
        },
      }
    },
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
      live.record(outcome.tenant.id, { durationMs: outcome.durationMs, status: outcome.status, limited: outcome.limited, rejected: outcome.rejected })
    },
  }
  // Stateless: one observation serves every request.
  return { start: () => observation }
}

/** One query's observation, as a `QueryObserver` returns it. */
export interface QueryObservation {
  /** Called once when the query is answered (`failed`: a database error or a refusal). */
  end(failed: boolean): void
}

/**
 * Something that watches the queries run in a tenant scope (metrics, a
 * tracer): `start` is called before each query of a tenant (Kysely,
 * `pool.query`, a scoped client's `query`) with the tenant; its isolation
 * model is `tenant.isolation`. Give it to `new TenantData(models, { queryObserver })`
 * or `createTenantry({ queryObserver })`. Queries of the system scope are not observed.
 *
 * @example
 * const observer: QueryObserver = { start: (tenant) => { const t = performance.now(); return { end: (failed) => record(tenant, performance.now() - t, failed) } } }
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
  const present = observers.filter((o): o is QueryObserver => o !== undefined)
  if (present.length === 1) return present[0]!
  return {
    start(tenant) {
      const started: QueryObservation[] = []
      for (const observer of present) {
        const observation = observer.start(tenant)
        if (observation !== undefined) started.push(observation)
      }
      if (started.length === 0) return undefined
      return {
        end(failed) {
          for (const o of started) {
            try {
              o.end(failed)
            } catch {
              // An observer's failure is its own.
            }
          }
        },
      }
    },
  }
}
