/**
 * What every HTTP adapter does for a tenant route, once, framework-free:
 * options checked at start, excluded paths, resolve -> refuse what is already
 * refused -> authenticate -> admit, and how an error becomes a response.
 */
import type { AdmissionTicket, TenantAdmission } from '../admission/index.ts'
import { frozenTenant } from '../context/tenant-context.ts'
import { TenantryError, type PreparedRefusal } from '../errors/index.ts'
import { observeRequest, type ObservedRequest, type RequestHandle, type RequestObserver } from '../observability/request-observer.ts'
import type { Tenant } from '../tenant/model.ts'
import type { TenantRequest } from './request.ts'
import type { TenantResolution } from './resolution.ts'

/** Options every adapter (Fastify, Express, Hono) takes. */
export interface TenantHttpOptions<T extends Tenant = Tenant> {
  /** Finds the tenant of each request. */
  readonly resolution: TenantResolution<T>
  /**
   * Checks the caller against the resolved tenant (e.g. `apiKeyAuthenticator(keys)`); its result is kept as `tenantAuth`.
   * (A method, so a function written for your tenant record type, such as `TenantRecord`, fits every adapter.)
   */
  authenticate?(request: TenantRequest, tenant: T): Promise<unknown>
  /**
   * Rate limit / bulkhead, asked after authentication; a tenant it already
   * refuses in this process (`admission.refusal`) is refused right after
   * resolution, before authentication.
   */
  readonly admission?: TenantAdmission
  /** Path prefixes that are not tenant routes (`['/admin', '/healthz']`): matched per path segment. */
  readonly exclude?: readonly string[]
  /**
   * Watches every request on a tenant route: metrics, traces, the live view
   * (`combineObservers(…)` for several; `@tenantry/observability` has
   * Prometheus and OpenTelemetry ones). None by default, at no cost.
   */
  readonly observer?: RequestObserver
}

/** A request let through: its tenant, what `authenticate` returned, the admission headers and slot. */
export interface TenantPass<T extends Tenant = Tenant> {
  readonly tenant: T
  readonly auth: unknown
  readonly headers: Readonly<Record<string, string>>
  /** Gives the admission slot back; idempotent. Call when the response is finished or aborted. */
  readonly release: () => void
}

/** The route of a request, as admission sees it (see `AdmissionRequest`). */
export interface GateRoute {
  readonly method: string
  /** The route pattern when the framework knows it (`/api/projects/:id`), else the path. */
  readonly route: string
}

/** The checked form of `TenantHttpOptions`, ready to run per request. */
export interface TenantGate<T extends Tenant = Tenant> {
  /** True when `path` is under one of the excluded prefixes. */
  excludes(path: string): boolean
  /**
   * Resolves, authenticates and admits; throws the TenantryError to answer otherwise.
   * `signal` (aborted when the client goes away; create it before calling) takes a
   * request waiting for a bulkhead slot out of the queue; a slot granted after it
   * aborted is given back at once (the pass then throws OVERLOADED, which nobody reads).
   * The same as `resolve`, `refusal` (thrown as its error) and `admit` in turn.
   */
  pass(request: TenantRequest, route: GateRoute & { readonly signal?: AbortSignal }): Promise<TenantPass<T>>
  /**
   * Step 1 of `pass`: the request's tenant, as the deep-frozen copy its scope
   * will hold (shared by observers, admission and the handler; none can change
   * it); throws the resolution's TenantryError.
   */
  resolve(request: TenantRequest): Promise<T>
  /**
   * Step 2, synchronous, no I/O: the refusal admission already holds for this
   * tenant and route (a tenant on the rate limiter's local deny list), prepared
   * once and shared; undefined otherwise. Answer it before anything else is done
   * for the request (authentication, admission, the body): hand `refusal.error()`
   * to the framework's error path, whose Tenantry handler sends `refusal.body`.
   */
  refusal(tenant: T, route: GateRoute): PreparedRefusal | undefined
  /** Step 3: authenticates the caller and admits the request (see `pass` for `signal`). */
  admit(request: TenantRequest, tenant: T, route: GateRoute & { readonly signal?: AbortSignal }): Promise<TenantPass<T>>
  /** Starts observing a tenant request (the `observer` option); undefined without one. End it once, when the response is done. */
  observe(request: ObservedRequest): RequestHandle | undefined
}

const noRelease = (): void => {}

function optionProblem(adapter: string, path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${adapter}: options.${path} ${message}`, { details: [{ path, message }] })
}

/**
 * Checks adapter options (at start, so misuse fails before the first request)
 * and returns the per-request gate. Adapters call it; applications rarely need it.
 *
 * @example
 * const gate = createTenantGate({ resolution, authenticate, exclude: ['/healthz'] }, 'myAdapter')
 * if (!gate.excludes(path)) { const { tenant, release } = await gate.pass(request, { method, route }) }
 */
export function createTenantGate<T extends Tenant>(options: TenantHttpOptions<T>, adapter: string): TenantGate<T> {
  if (typeof options !== 'object' || options === null) throw optionProblem(adapter, '', 'must be an object with at least { resolution }')
  const { resolution, authenticate, admission } = options
  if (typeof (resolution as unknown as { resolve?: unknown })?.resolve !== 'function') {
    throw optionProblem(adapter, 'resolution', 'must be a TenantResolution')
  }
  if (authenticate !== undefined && typeof authenticate !== 'function') {
    throw optionProblem(adapter, 'authenticate', 'must be a function (request, tenant) => Promise')
  }
  if (admission !== undefined && typeof (admission as unknown as { admit?: unknown })?.admit !== 'function') {
    throw optionProblem(adapter, 'admission', 'must implement TenantAdmission (admit)')
  }
  const exclude = options.exclude ?? []
  if (!Array.isArray(exclude) || !exclude.every((p) => typeof p === 'string' && p.startsWith('/') && p.length > 1)) {
    throw optionProblem(adapter, 'exclude', 'must be an array of path prefixes such as "/admin" (not "/": that would exclude everything)')
  }
  const prefixes = exclude.map((p) => (p.endsWith('/') ? p.slice(0, -1) : p))
  const observer = options.observer
  if (observer !== undefined && typeof (observer as { start?: unknown })?.start !== 'function') {
    throw optionProblem(adapter, 'observer', 'must be a RequestObserver (a start(request) method)')
  }
  return {
    observe(request) {
      return observeRequest(observer, request)
    },
    excludes(path) {
      return prefixes.some((prefix) => path === prefix || (path.startsWith(prefix) && (path[prefix.length] === '/' || path[prefix.length] === '?')))
    },
    async pass(request, route) {
      const tenant = await resolve(request)
      const refused = refusalOf(tenant, route)
      if (refused !== undefined) throw refused.error()
      return admit(request, tenant, route)
    },
    resolve,
    refusal: refusalOf,
    admit,
  }

  /**
   * The request's tenant as its scope will hold it: the deep-frozen copy
   * `runWithTenant` enters (a cached directory's tenant already is one), so the
   * observers, admission, authentication and the handler share one object
   * none of them can change for the others, whatever the directory hands out.
   */
  async function resolve(request: TenantRequest): Promise<T> {
    return frozenTenant(await resolution.resolve(request), 'TenantResolution')
  }

  function refusalOf(tenant: T, route: GateRoute): PreparedRefusal | undefined {
    return admission?.refusal?.(tenant, route)
  }

  async function admit(request: TenantRequest, tenant: T, route: GateRoute & { readonly signal?: AbortSignal }): Promise<TenantPass<T>> {
    const auth = authenticate === undefined ? undefined : await authenticate(request, tenant)
    let ticket: AdmissionTicket | undefined
    if (admission !== undefined) {
      const signal = route.signal
      ticket = await admission.admit(tenant, signal === undefined ? { method: route.method, route: route.route } : { method: route.method, route: route.route, signal })
      if (signal?.aborted) {
        // The client left while we waited (for the limiter, or the slot was granted just as it left):
        // nobody will see a response, so no 'close' will come to give the slot back.
        ticket.release()
        throw new TenantryError('OVERLOADED', 'The client went away before the request was admitted')
      }
    }
    let released = false
    return {
      tenant,
      auth,
      headers: ticket?.headers ?? {},
      release: ticket === undefined ? noRelease : () => {
        if (released) return
        released = true
        ticket.release()
      },
    }
  }
}
