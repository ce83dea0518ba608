/**
 * How any error becomes an HTTP answer: the catalogue's status, and what its
 * exposure lets a body show. Every adapter (Fastify, Express, Hono, NestJS)
 * answers through here; nobody invents a status elsewhere.
 */
import { errorCatalogue, type ErrorEntry } from './catalogue.ts'
import { preparedRefusalOf } from './refusal.ts'
import { TenantryError, isTenantryError } from './tenantry-error.ts'

/** A response an adapter sends for an error. */
export interface HttpErrorResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: ReturnType<TenantryError['toJSON']>
  /**
   * True for every code not exposed as it is (`generic` or `internal` in the
   * catalogue): log the original error; the body says nothing of it. False for
   * the codes written for the caller, OVERLOADED's 503 included.
   */
  readonly internal: boolean
  /**
   * The body already serialized, for a refusal prepared ahead (`prepareRefusal`,
   * e.g. a tenant on the rate limiter's local deny list): send these bytes as
   * `application/json; charset=utf-8` instead of serializing `body`.
   */
  readonly serialized?: string
}

/** Statuses a framework uses for bad input (JSON, size, media type): all VALIDATION_FAILED per the contract. */
const INPUT_STATUSES = new Set([400, 411, 413, 414, 415, 422, 431])

/**
 * The response for any error. A TenantryError answers with its catalogue
 * status: its code and message when exposed `as-is`, its code and the
 * catalogue's `publicMessage` when `generic`, and 500 INTERNAL with a generic
 * message when `internal`. A framework's client error (`clientStatus`: bad JSON,
 * body too large, unsupported media type) is VALIDATION_FAILED (400), a 401 is
 * UNAUTHENTICATED, a 404 is NOT_FOUND; anything else is 500 INTERNAL. A
 * prepared refusal's error answers with its shared parts and `serialized`.
 *
 * @example
 * const { status, headers, body, internal } = httpErrorResponse(error, error.statusCode)
 * if (internal) log.error(error)
 */
export function httpErrorResponse(thrown: unknown, clientStatus?: number, details?: unknown): HttpErrorResponse {
  const prepared = preparedRefusalOf(thrown)
  if (prepared !== undefined) {
    return { status: prepared.status, headers: prepared.headers, body: { error: { code: prepared.code, message: prepared.message } }, internal: false, serialized: prepared.body }
  }
  let mapped: TenantryError
  let internal: boolean
  const error = tenantryErrorWithin(thrown) ?? thrown
  if (isTenantryError(error)) {
    const entry: ErrorEntry = errorCatalogue[error.code]
    internal = entry.exposure !== 'as-is'
    mapped = entry.exposure === 'as-is'
      ? error
      : entry.exposure === 'generic'
        ? new TenantryError(error.code, entry.publicMessage ?? 'Retry later', { headers: error.headers })
        : internalError()
  } else {
    internal = true
    if (clientStatus === 404) mapped = new TenantryError('NOT_FOUND', 'Not found')
    else if (clientStatus === 401) mapped = new TenantryError('UNAUTHENTICATED', 'Authentication required')
    else if (clientStatus !== undefined && INPUT_STATUSES.has(clientStatus)) {
      const message = error instanceof Error && error.message ? error.message : 'Invalid request'
      mapped = new TenantryError('VALIDATION_FAILED', message, { details: details ?? [{ path: 'request', message }] })
    } else mapped = internalError()
    if (clientStatus !== undefined && (clientStatus === 404 || clientStatus === 401 || INPUT_STATUSES.has(clientStatus))) internal = false
  }
  return { status: mapped.status, headers: mapped.headers, body: mapped.toJSON(), internal }
}

/**
 * The TenantryError an ORM wrapped (Drizzle's DrizzleQueryError keeps the
 * driver's error as its `cause`): found along the `cause` chain, a few links
 * deep, so a refused query keeps its status behind the wrapper.
 */
function tenantryErrorWithin(error: unknown): TenantryError | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if (isTenantryError(current)) return current
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function internalError(): TenantryError {
  return new TenantryError('INTERNAL', 'Internal server error; the error was logged')
}

/**
 * The NOT_FOUND response for a request no route matches.
 *
 * @example
 * const { status, body } = routeNotFound('GET', '/nope') // 404, { error: { code: 'NOT_FOUND', message: 'No route GET /nope' } }
 */
export function routeNotFound(method: string, path: string): HttpErrorResponse {
  const error = new TenantryError('NOT_FOUND', `No route ${method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`)
  return { status: 404, headers: {}, body: error.toJSON(), internal: false }
}
