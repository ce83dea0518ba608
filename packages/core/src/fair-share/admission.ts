import type { AdmissionRequest, AdmissionTicket, TenantAdmission } from '../admission/index.ts'
import { isTenantryError, TenantryError, validationError, type PreparedRefusal, type ValidationIssue } from '../errors/index.ts'
import type { TenantBulkhead } from '../bulkhead/index.ts'
import { rateLimitedError, type RateLimiter } from '../ratelimit/rate-limiter.ts'
import type { Tenant } from '../tenant/model.ts'

/**
 * What a request costs in rate-limit units: a function, or a table keyed by
 * `"METHOD route"` (`'POST /api/projects'`) or by route alone (`'/api/export'`);
 * anything not listed costs 1. A table matches routes in any case and with or
 * without a trailing slash (`routeKey`): the adapters that admit before
 * routing (Express, NestJS on Express, Hono) pass the raw path, and their
 * routers take `/API/Exports/` for `/api/exports`. A function gets the same
 * route (the raw path there, the route pattern on Fastify); normalise it with
 * `routeKey` before comparing.
 */
export type CostOf = ((request: AdmissionRequest, tenant: Tenant) => number) | Readonly<Record<string, number>>

export interface TenantAdmissionOptions {
  /** The tenant's rate limit: over it, RATE_LIMITED (429). */
  readonly limiter?: RateLimiter
  /** The tenant's concurrency cap: full, OVERLOADED (503). */
  readonly bulkhead?: TenantBulkhead
  readonly costOf?: CostOf
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

/**
 * The `TenantAdmission` HTTP adapters call before a tenant's handler: the rate
 * limit first (a refused request costs no slot), then the bulkhead. Admitted,
 * the ticket carries the `RateLimit-Policy` / `RateLimit` headers for the
 * response and `release()` for the slot. Refused, it throws RATE_LIMITED (429)
 * or OVERLOADED (503), each with `Retry-After` (and the rate-limit headers).
 * A request refused by the bulkhead has still spent its rate-limit units.
 * `refusal()` answers, with no I/O, a tenant the limiter already refuses in
 * this process (its local deny list, with a store elsewhere such as Redis).
 *
 * @example
 * const admission = tenantAdmission({
 *   limiter: new RateLimiter({ store, plans: { default: { limit: 600, windowMs: 60_000 } } }),
 *   bulkhead: new TenantBulkhead({ maxConcurrent: 8, maxQueue: 16 }),
 *   costOf: { 'POST /api/exports': 20 },
 * })
 * await app.register(tenantryFastify, { resolution, admission })
 */
export function tenantAdmission(options: TenantAdmissionOptions): TenantAdmission {
  const { limiter, bulkhead, costOf } = options ?? {}
  const issues: ValidationIssue[] = []
  if (limiter === undefined && bulkhead === undefined) issues.push({ path: 'options', message: 'needs a limiter, a bulkhead or both' })
  if (limiter !== undefined && typeof limiter.check !== 'function') issues.push({ path: 'options.limiter', message: 'must be a RateLimiter' })
  if (bulkhead !== undefined && typeof bulkhead.acquire !== 'function') issues.push({ path: 'options.bulkhead', message: 'must be a TenantBulkhead' })
  if (costOf !== undefined && typeof costOf !== 'function') {
    if (typeof costOf !== 'object' || costOf === null) issues.push({ path: 'options.costOf', message: 'must be a function or a table of costs' })
    else {
      for (const [route, cost] of Object.entries(costOf)) {
        if (!Number.isSafeInteger(cost) || cost < 0) issues.push({ path: `options.costOf.${route}`, message: 'must be a non-negative integer' })
      }
    }
  }
  if (issues.length > 0) throw validationError(issues)
  const costFor = costFunction(costOf)

  return {
    async admit(tenant: Tenant, request: AdmissionRequest): Promise<AdmissionTicket> {
      let headers = NO_HEADERS
      if (limiter !== undefined) {
        const result = await limiter.check(tenant, { cost: costFor(request, tenant) })
        if (!result.allowed) throw rateLimitedError(result)
        headers = result.headers
      }
      if (bulkhead === undefined) return { headers, release: noop }
      try {
        const permit = await bulkhead.acquire(tenant, { signal: request.signal })
        return { headers, release: permit.release }
      } catch (error) {
        if (headers === NO_HEADERS || !isTenantryError(error, 'OVERLOADED')) throw error
        throw new TenantryError('OVERLOADED', error.message, { headers: { ...headers, ...error.headers } })
      }
    },
    refusal(tenant: Tenant, request: AdmissionRequest): PreparedRefusal | undefined {
      return limiter?.refusal?.(tenant, { cost: costFor(request, tenant) })
    },
    stats() {
      return {
        ...(limiter === undefined ? {} : { limiter: { ...limiter.stats() } }),
        ...(bulkhead === undefined ? {} : { bulkhead: { ...bulkhead.stats() } }),
      }
    },
  }
}

function noop(): void {}

function costFunction(costOf: CostOf | undefined): (request: AdmissionRequest, tenant: Tenant) => number {
  if (costOf === undefined) return () => 1
  if (typeof costOf === 'function') {
    return (request, tenant) => {
      const cost = costOf(request, tenant)
      if (!Number.isSafeInteger(cost) || cost < 0) {
        throw new TenantryError('INTERNAL', `costOf returned ${String(cost)} for ${request.method} ${request.route}; it must be a non-negative integer`)
      }
      return cost
    }
  }
  const table = new Map<string, number>()
  for (const [key, cost] of Object.entries(costOf)) {
    const space = key.indexOf(' ')
    table.set(space < 0 ? routeKey(key) : `${key.slice(0, space).toUpperCase()} ${routeKey(key.slice(space + 1).trim())}`, cost)
  }
  return (request) => {
    const route = routeKey(request.route)
    return table.get(`${request.method.toUpperCase()} ${route}`) ?? table.get(route) ?? 1
  }
}

/**
 * A route as the cost table matches it: lower case, with no trailing slash.
 * Express, NestJS on Express and Hono admit a request before routing, so the
 * route they pass is the raw path: `/api/Exports` or `/api/exports/` reach the
 * handler of `/api/exports` (Express is case-insensitive and not strict by
 * default) and must cost what it costs. A router that is case-sensitive only
 * makes a listed cost apply to a path that then finds no route: over-charged,
 * never under.
 *
 * @example
 * routeKey('/api/Exports/') // '/api/exports'
 */
export function routeKey(route: string): string {
  let end = route.length
  while (end > 1 && route.charCodeAt(end - 1) === 47 /* / */) end--
  return (end === route.length ? route : route.slice(0, end)).toLowerCase()
}
