/**
 * Refusals answered from parts computed ahead: a noisy tenant's requests,
 * refused thousands of times a second with the same answer, share one status,
 * one frozen set of headers and one serialized body instead of building an
 * error, a body and its JSON per request.
 */
import { errorCatalogue, type TenantryErrorCode } from './catalogue.ts'
import { TenantryError } from './tenantry-error.ts'

/** Where an error made by `PreparedRefusal.error()` keeps its refusal. */
const preparedOf = Symbol('tenantry.preparedRefusal')

/**
 * One refusal's HTTP answer, computed once and shared by every request it
 * refuses: what `httpErrorResponse` gives for the same TenantryError, with the
 * body already serialized.
 */
export interface PreparedRefusal {
  readonly code: TenantryErrorCode
  readonly message: string
  readonly status: number
  /** Frozen and shared: copy it onto the response, never change it. */
  readonly headers: Readonly<Record<string, string>>
  /** `{"error":{"code":…,"message":…}}`, the bytes of the response body (send as `application/json; charset=utf-8`). */
  readonly body: string
  /**
   * A new TenantryError for this refusal, for paths that throw or hand an error
   * to the app's error handler; `httpErrorResponse` answers it from the prepared
   * parts. It has no stack: it is an answer, not a fault.
   */
  error(): TenantryError
}

/**
 * Prepares the answer to a refusal an adapter will give many times (see
 * `RateLimiter.refusal`). Only for codes a body shows as raised (`as-is` in
 * the catalogue); anything else is a fault, answered per error.
 *
 * @example
 * const refusal = prepareRefusal('RATE_LIMITED', 'Rate limit exceeded: 100 per 60 s; retry in 4 s', { 'Retry-After': '4' })
 * reply.code(refusal.status).headers(refusal.headers).type('application/json; charset=utf-8').send(refusal.body)
 */
export function prepareRefusal(code: TenantryErrorCode, message: string, headers: Readonly<Record<string, string>> = {}): PreparedRefusal {
  const entry = errorCatalogue[code]
  if (entry.exposure !== 'as-is') {
    throw new TenantryError('INTERNAL', `prepareRefusal: the body of ${code} does not show its message (exposure ${entry.exposure}); throw the error instead`)
  }
  const shared = Object.freeze({ ...headers })
  // What httpErrorResponse answers for an `as-is` error without details: its status, its headers,
  // and TenantryError.toJSON()'s { error: { code, message } }.
  const body = JSON.stringify({ error: { code, message } })
  const refusal: PreparedRefusal = Object.freeze({
    code,
    message,
    status: entry.status,
    headers: shared,
    body,
    error(): TenantryError {
      // A stack costs microseconds per refusal and says nothing: the refusal is the expected outcome.
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 0
      let error: TenantryError
      try {
        error = new TenantryError(code, message, { headers: shared })
      } finally {
        Error.stackTraceLimit = limit
      }
      return answeredBy(error, refusal)
    },
  })
  return refusal
}

/**
 * Marks `error` (raised with the refusal's code, message and headers) as
 * answered by `refusal`: `httpErrorResponse` and the adapters' handlers then
 * send its prepared parts. Internal to core (`rateLimitedError` uses it).
 */
export function answeredBy(error: TenantryError, refusal: PreparedRefusal): TenantryError {
  Object.defineProperty(error, preparedOf, { value: refusal })
  return error
}

/**
 * The prepared refusal behind an error made by `PreparedRefusal.error()`;
 * undefined for any other error.
 *
 * @example
 * const prepared = preparedRefusalOf(error)
 * if (prepared) return res.status(prepared.status).set(prepared.headers).type('json').send(prepared.body)
 */
export function preparedRefusalOf(error: unknown): PreparedRefusal | undefined {
  return typeof error === 'object' && error !== null ? (error as { [preparedOf]?: PreparedRefusal })[preparedOf] : undefined
}
