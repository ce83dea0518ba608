/** How every error leaves a Nest app on Express or Fastify: the Tenantry catalogue's status and body, never a stack. */
import { Catch, HttpException, Inject, Logger, NotFoundException, Optional, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { httpErrorResponse, routeNotFound, type HttpErrorResponse, type ValidationIssue } from '@tenantry/core'
import { throwError, type Observable } from 'rxjs'
import { pathOf } from './platform/admit.ts'
import { TENANTRY_SETTINGS } from './tokens.ts'

/**
 * Options of `TenantryExceptionFilter` (the module passes its `log`).
 *
 * @example
 * app.useGlobalFilters(new TenantryExceptionFilter(app.get(HttpAdapterHost), { log: (error) => pino.error(error) }))
 */
export interface TenantryExceptionFilterOptions {
  /** Where 500s (and the errors whose message the body hides) are logged; default Nest's `Logger`. */
  readonly log?: ((error: unknown, request: unknown) => void) | undefined
}

/** What Nest sends for a 4xx the catalogue has no code for: the app's own answer, as Nest's default filter sends it. */
interface PassThrough {
  readonly status: number
  readonly body: unknown
}

const logger = new Logger('Tenantry')

function defaultLog(error: unknown): void {
  if (error instanceof Error) logger.error(error.message, error.stack)
  else logger.error(String(error))
}

/** Nest's not-found handler throws `NotFoundException('Cannot GET /x')` (the URL with its query). */
function isRouteNotFound(exception: HttpException, method: string, url: string): boolean {
  return exception instanceof NotFoundException && exception.message === `Cannot ${method} ${url}`
}

/** Where a framework's input error was found: the body for a parser's errors (body-parser's `entity.*`, Fastify's `FST_ERR_CTP_*`). */
function inputPath(cause: unknown): string {
  const { type, code } = (typeof cause === 'object' && cause !== null ? cause : {}) as { type?: unknown; code?: unknown }
  if (typeof type === 'string' && type.startsWith('entity.')) return 'body'
  if (typeof code === 'string' && code.startsWith('FST_ERR_CTP_')) return 'body'
  return 'request'
}

/**
 * A 400-family HttpException's message and issues: ValidationPipe puts one
 * message per failed constraint in `response.message`; Nest's body parsers
 * keep the parser's error as `cause`.
 */
function inputIssues(exception: HttpException): { message: string; details: ValidationIssue[] } {
  const response = exception.getResponse()
  const messages = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : undefined
  if (Array.isArray(messages) && messages.length > 0) {
    const details = messages.map((m) => ({ path: 'request', message: String(m) }))
    return { message: `Invalid input: ${details.map((d) => d.message).join('; ')}`, details }
  }
  return { message: exception.message, details: [{ path: inputPath(exception.cause), message: exception.message }] }
}

/**
 * Nest's exception filter for Tenantry (TenantryModule registers it globally,
 * as APP_FILTER; `exceptionFilter: false` leaves it out):
 *
 * - a TenantryError answers with its catalogue status, body and headers
 *   (`Retry-After`, `RateLimit`, `WWW-Authenticate`), through the same
 *   `httpErrorResponse()` every adapter uses: a `generic` code with the
 *   catalogue's message, an `internal` one as 500 INTERNAL (logged);
 * - Nest's HttpExceptions whose status the catalogue names: no route (Nest's
 *   404 `Cannot GET /x`) is NOT_FOUND `No route GET /x`, as on every adapter;
 *   another 404 is NOT_FOUND and a 401 UNAUTHENTICATED, with the exception's
 *   message; a 400, 411, 413, 414, 415, 422 or 431 (malformed JSON, body too
 *   large, ValidationPipe) is 400 VALIDATION_FAILED with `details`;
 * - any other 4xx HttpException (a guard's 403, a 409, a throttler's 429) is
 *   the app's own answer: its status and Nest's body, untouched;
 * - anything else, 5xx HttpExceptions included, is 500 INTERNAL with a
 *   generic message; the error goes to `log`.
 *
 * @example
 * // Without TenantryModule's registration (exceptionFilter: false), on one controller:
 * UseFilters(TenantryExceptionFilter)(ProjectsController)
 * // or for the whole app, in bootstrap():
 * app.useGlobalFilters(new TenantryExceptionFilter(app.get(HttpAdapterHost)))
 */
export class TenantryExceptionFilter implements ExceptionFilter {
  readonly #adapterHost: HttpAdapterHost
  readonly #log: (error: unknown, request: unknown) => void

  constructor(adapterHost: HttpAdapterHost, options: TenantryExceptionFilterOptions = {}) {
    this.#adapterHost = adapterHost
    this.#log = options?.log ?? defaultLog
  }

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // RPC (a hybrid app that inherits the global filters): not an HTTP answer; pass it on.
    if (host.getType() !== 'http') return throwError(() => exception)
    const adapter = this.#adapterHost.httpAdapter
    const request: unknown = host.getArgByIndex(0)
    const response: unknown = host.getArgByIndex(1)
    const answer = this.#answerFor(exception, request)
    if ('internal' in answer && answer.internal) this.#log(exception, request)
    if (adapter.isHeadersSent(response)) {
      adapter.end(response)
      return
    }
    if ('headers' in answer) for (const [name, value] of Object.entries(answer.headers)) adapter.setHeader(response, name, value)
    if ('serialized' in answer && answer.serialized !== undefined) {
      // A refusal prepared ahead (a tenant over its rate limit, on the local deny list): the body already serialized.
      adapter.setHeader(response, 'Content-Type', 'application/json; charset=utf-8')
      adapter.reply(response, answer.serialized, answer.status)
      return
    }
    adapter.reply(response, answer.body, answer.status)
  }

  #answerFor(exception: unknown, request: unknown): HttpErrorResponse | PassThrough {
    if (!(exception instanceof HttpException)) return httpErrorResponse(exception)
    const status = exception.getStatus()
    const adapter = this.#adapterHost.httpAdapter
    if (status === 404) {
      const method = String(adapter.getRequestMethod(request))
      const url = String(adapter.getRequestUrl(request))
      if (isRouteNotFound(exception, method, url)) return routeNotFound(method, pathOf(url))
    }
    const input = status >= 400 && status < 500 ? inputIssues(exception) : undefined
    const mapped = httpErrorResponse(exception, status, input?.details)
    if (status >= 400 && status < 500) {
      // A 4xx the catalogue has no code for is the app's deliberate answer (a guard's 403).
      if (mapped.body.error.code === 'INTERNAL') return { status, body: nestBody(exception) }
      // The catalogue decides status and code; Nest's messages are written for the client.
      const message = mapped.body.error.code === 'VALIDATION_FAILED' ? input!.message : exception.message
      return { ...mapped, body: { error: { ...mapped.body.error, message } } }
    }
    return mapped
  }
}

/** The body Nest's own filter sends for an HttpException. */
function nestBody(exception: HttpException): unknown {
  const response = exception.getResponse()
  return typeof response === 'object' && response !== null ? response : { statusCode: exception.getStatus(), message: response }
}

Catch()(TenantryExceptionFilter)
Inject(HttpAdapterHost)(TenantryExceptionFilter, undefined, 0)
// Used with UseFilters(TenantryExceptionFilter) or useClass, the module's settings carry `log`.
Inject(TENANTRY_SETTINGS)(TenantryExceptionFilter, undefined, 1)
Optional()(TenantryExceptionFilter, undefined, 1)
