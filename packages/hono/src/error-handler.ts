/** How every error leaves a Hono app: the Tenantry catalogue's status and body, never a stack. */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { httpErrorResponse, preparedRefusalOf, routeNotFound } from '@tenantry/core'

/** Where 500s are logged; replace it to use your logger. Default `console.error`. */
export let logInternalError: (error: unknown, c: Context) => void = (error) => console.error(error)

/**
 * Sets the logger `tenantryHonoErrorHandler` uses for 500s.
 *
 * @example
 * setTenantryHonoLogger((error) => logger.error({ err: error }))
 */
export function setTenantryHonoLogger(log: (error: unknown, c: Context) => void): void {
  logInternalError = log
}

/**
 * For `app.onError`: TenantryError -> its status, body and headers; an
 * HTTPException for bad input (malformed JSON from `validator`, 413 from
 * `bodyLimit`, 415) -> 400 VALIDATION_FAILED; 404 -> NOT_FOUND; anything else ->
 * 500 INTERNAL with a generic message, the error logged. A refusal prepared
 * ahead (a tenant over its rate limit, refused from the limiter's local deny
 * list) is answered from its shared parts, the body already serialized.
 *
 * @example
 * app.onError(tenantryHonoErrorHandler)
 */
export function tenantryHonoErrorHandler(error: Error, c: Context): Response {
  const prepared = preparedRefusalOf(error)
  if (prepared !== undefined) {
    // A refusal prepared ahead (a tenant over its rate limit, on the local deny list): its shared
    // parts as they are, the body already serialized (the Content-Type c.json sends).
    return c.body(prepared.body, prepared.status as 429, { 'Content-Type': 'application/json', ...prepared.headers })
  }
  const status = error instanceof HTTPException && error.status >= 400 && error.status < 500 ? error.status : undefined
  const response = httpErrorResponse(error, status, status === undefined ? undefined : [{ path: 'request', message: error.message || 'Invalid request' }])
  if (response.internal) logInternalError(error, c)
  return c.json(response.body, response.status as 400, response.headers)
}

/**
 * For `app.notFound`: `404 {"error":{"code":"NOT_FOUND",...}}`.
 *
 * @example
 * app.notFound(tenantryHonoNotFoundHandler)
 */
export function tenantryHonoNotFoundHandler(c: Context): Response {
  const response = routeNotFound(c.req.method, c.req.path)
  return c.json(response.body, 404)
}
