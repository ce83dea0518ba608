/** How every error leaves an Express app: the Tenantry catalogue's status and body, never a stack. */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'
import { httpErrorResponse, preparedRefusalOf, routeNotFound } from '@tenantry/core'

export interface TenantryExpressErrorHandlerOptions {
  /** Where 500s are logged; default `console.error`. */
  readonly log?: (error: unknown, req: Request) => void
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** body-parser's errors carry `type` and a 4xx `status` (bad JSON, too large, bad charset). */
function clientStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as { type?: unknown; status?: unknown; statusCode?: unknown; expose?: unknown }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined
  // Only http-errors style errors meant for the client (expose: true), like body-parser's.
  return status !== undefined && status >= 400 && status < 500 && e.expose === true ? status : undefined
}

/**
 * Express error handler (mount it last): TenantryError -> its status, body and
 * headers; body-parser's malformed JSON, body too large, unsupported charset or
 * encoding -> 400 VALIDATION_FAILED; anything else -> 500 INTERNAL with a
 * generic message, the error logged. A refusal prepared ahead (a tenant over
 * its rate limit, refused from the limiter's local deny list) is written from
 * its shared parts: status, headers, the body already serialized.
 *
 * @example
 * app.use(tenantryExpressErrorHandler({ log: (error) => logger.error(error) }))
 */
export function tenantryExpressErrorHandler(options: TenantryExpressErrorHandlerOptions = {}): ErrorRequestHandler {
  const log = options.log ?? ((error: unknown) => console.error(error))
  return function tenantryErrorHandler(error: unknown, req: Request, res: Response, next: NextFunction): void {
    if (res.headersSent) return next(error)
    const prepared = preparedRefusalOf(error)
    if (prepared !== undefined) {
      // A refusal prepared ahead (a tenant over its rate limit, on the local deny list): its
      // shared parts written as they are, through Node's response (no JSON, no ETag per refusal).
      res.statusCode = prepared.status
      for (const name in prepared.headers) res.setHeader(name, prepared.headers[name] as string)
      res.setHeader('Content-Type', JSON_TYPE)
      res.setHeader('Content-Length', Buffer.byteLength(prepared.body))
      res.end(prepared.body)
      return
    }
    const status = clientStatusOf(error)
    const type = (error as { type?: unknown } | null)?.type
    const response = httpErrorResponse(
      error,
      status,
      status === undefined ? undefined : [{ path: typeof type === 'string' && type.startsWith('entity.') ? 'body' : 'request', message: (error as Error).message }],
    )
    if (response.internal) log(error, req)
    res.status(response.status).set(response.headers).json(response.body)
  }
}

/**
 * Answers 404 NOT_FOUND for requests no route matched; mount it after the routes.
 *
 * @example
 * app.use(tenantryExpressNotFoundHandler())
 */
export function tenantryExpressNotFoundHandler(): RequestHandler {
  return function tenantryNotFound(req: Request, res: Response): void {
    const response = routeNotFound(req.method, (req.originalUrl || req.url).split('?')[0] ?? '/')
    res.status(response.status).json(response.body)
  }
}
