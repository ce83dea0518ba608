import type { IncomingMessage } from 'node:http'
import { REDACTED_PATHS, bindLogTenant, requestIdFrom, tenantLogOptions } from '@tenantry/observability'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { pino, type DestinationStream, type Logger } from 'pino'

/** What pino blanks out wherever it appears in a line: the library's list (`@tenantry/observability`). */
export const redactedPaths: readonly string[] = REDACTED_PATHS

type TenantFields = { readonly id: string; readonly slug: string }

/**
 * The SaaS's pino logger: JSON lines, secrets redacted, errors without row
 * values, and the tenant (from the tenant scope, or bound to a request's
 * logger by `installRequestLogging`) and request id on every line: the
 * library's `tenantLogOptions`.
 *
 * @example
 * const logger = createLogger({ level: 'info' })
 * const quiet = createLogger({ level: 'info' }, lines)   // a test capturing every line
 */
export function createLogger(options: { level: string | undefined }, destination?: DestinationStream): Logger {
  const config = tenantLogOptions({ level: options.level ?? 'info', base: { service: 'tenantry-saas' } })
  return destination === undefined ? pino(config) : pino(config, destination)
}

/**
 * The request id: the caller's `x-request-id` when it is a plain token (so ids
 * can be followed across services, and a header cannot forge log lines), else a
 * new UUID.
 */
export function requestIdOf(request: IncomingMessage): string {
  return requestIdFrom(request.headers)
}

/** The tenant fields every log line of a tenant request carries. */
function tenantFields(request: FastifyRequest): TenantFields | undefined {
  const tenant = (request as { tenant?: TenantFields }).tenant
  return tenant === undefined ? undefined : { id: tenant.id, slug: tenant.slug }
}

/**
 * Request logging for the app: echoes the request id, binds the tenant to the
 * request's logger as soon as it is known (so every later line of a tenant
 * request names it), and writes one line per response instead of Fastify's two.
 * Register it after the Tenantry plugin, whose hooks resolve the tenant.
 */
export function installRequestLogging(app: FastifyInstance): void {
  // Callback hooks, not async ones: every request (a flood of refused ones too) runs them, and
  // an async hook costs a promise per request. A line at a level the logger drops is never built.
  app.addHook('onRequest', function bindTenantOnRequest(request, reply, done) {
    bindTenant(request, reply)
    done()
  })
  app.addHook('preHandler', function bindTenantOnPreHandler(request, reply, done) {
    bindTenant(request, reply)
    done()
  })
  app.addHook('onSend', function echoRequestId(request, reply, payload, done) {
    reply.header('x-request-id', request.id)
    done(null, payload)
  })
  app.addHook('onResponse', function logResponse(request, reply, done) {
    const status = reply.statusCode
    // 503 is OVERLOADED (a tenant over its bulkhead) or a retryable database outage, not a
    // server failure: warn. A failure the error handler logged with its stack is a 500.
    const level = status === 503 ? 'warn' : status >= 500 ? 'error' : 'info'
    const log = request.log as unknown as Logger
    if (log.isLevelEnabled(level)) {
      bindTenant(request, reply)
      const line = {
        req: { method: request.method, url: request.url, host: request.headers.host },
        res: { statusCode: status },
        responseTime: Math.round(reply.elapsedTime * 10) / 10,
      }
      if (level === 'warn') log.warn(line, 'request refused (service unavailable)')
      else if (level === 'error') log.error(line, 'request failed')
      else log.info(line, 'request completed')
    }
    done()
  })
}

/** Marks the request's logger (and the reply's, if another) with the tenant, once it is known. */
function bindTenant(request: FastifyRequest, reply: FastifyReply): void {
  const tenant = tenantFields(request)
  if (tenant === undefined) return
  bindLogTenant(request.log, tenant)
  if ((reply.log as unknown) !== request.log) bindLogTenant(reply.log, tenant)
}
