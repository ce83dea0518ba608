/** How every error leaves a Fastify app: the Tenantry catalogue's status and body, never a stack. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { httpErrorResponse, preparedRefusalOf, routeNotFound, type HttpErrorResponse } from '@tenantry/core'

interface AjvIssue {
  readonly instancePath?: string
  readonly message?: string
  readonly params?: { readonly missingProperty?: string; readonly additionalProperty?: string }
}

/** `body.name`, `querystring.limit`, from Fastify's validation context and Ajv's JSON pointer. */
function issuePath(context: string | undefined, issue: AjvIssue): string {
  const parts = [context ?? 'request', ...(issue.instancePath ?? '').split('/').filter(Boolean)]
  const extra = issue.params?.missingProperty ?? issue.params?.additionalProperty
  if (extra !== undefined) parts.push(extra)
  return parts.join('.')
}

const JSON_TYPE = 'application/json; charset=utf-8'

function responseFor(error: FastifyError): HttpErrorResponse {
  const validation = (error as { validation?: AjvIssue[] }).validation
  if (Array.isArray(validation)) {
    const context = (error as { validationContext?: string }).validationContext
    const details = validation.map((issue) => ({ path: issuePath(context, issue), message: issue.message ?? 'is invalid' }))
    return httpErrorResponse(error, 400, details)
  }
  const status = typeof error.statusCode === 'number' ? error.statusCode : undefined
  // Fastify's own client errors (bad JSON, body too large, unsupported media type, bad URL).
  const ownClientError = typeof error.code === 'string' && error.code.startsWith('FST_ERR_') && status !== undefined && status >= 400 && status < 500
  if (ownClientError && status !== 404) {
    const message = error.message
    return httpErrorResponse(error, 400, [{ path: error.code.startsWith('FST_ERR_CTP_') ? 'body' : 'request', message }])
  }
  return httpErrorResponse(error, status === 404 ? 404 : undefined)
}

/**
 * Fastify error handler: TenantryError -> its status, `toJSON()` body and
 * headers; Fastify's malformed JSON, schema validation, unsupported media type
 * and body too large -> 400 VALIDATION_FAILED with `details`; a 404 -> NOT_FOUND;
 * anything else -> 500 INTERNAL with a generic message, the error logged. A
 * refusal prepared ahead (`gate.refusal`: a tenant over its rate limit, refused
 * from the local deny list) is sent from its shared parts, its body already serialized.
 * `tenantryFastify` installs it when registered with `errorHandler: true`; otherwise set it yourself (`app.setErrorHandler(tenantryErrorHandler)`), in the root or in a child scope that has its own.
 *
 * @example
 * app.setErrorHandler(tenantryErrorHandler)
 */
export function tenantryErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // A refusal prepared ahead (a tenant on the rate limiter's local deny list): its shared parts as
  // they are, the body already serialized; not logged one by one (the limiter's stats count them).
  const prepared = preparedRefusalOf(error)
  if (prepared !== undefined) {
    void reply.code(prepared.status).headers(prepared.headers).type(JSON_TYPE).send(prepared.body)
    return
  }
  const response = responseFor(error)
  if (response.internal) request.log.error({ err: error }, 'request failed')
  else request.log.debug({ code: response.body.error.code }, response.body.error.message)
  void reply.code(response.status).headers(response.headers).send(response.body)
}

/**
 * Not-found handler: `404 {"error":{"code":"NOT_FOUND","message":"No route GET /x"}}`.
 *
 * @example
 * app.setNotFoundHandler(tenantryNotFoundHandler)
 */
export function tenantryNotFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const response = routeNotFound(request.method, request.url.split('?')[0] ?? request.url)
  void reply.code(response.status).send(response.body)
}
