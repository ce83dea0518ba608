import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino'

/**
 * Paths pino blanks out wherever they appear in a log line: the code below never
 * logs headers or bodies, this is the second line of defence if someone does.
 */
export const redactedPaths: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'key',
  '*.key',
  'token',
  '*.token',
  'adminToken',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'body',
  '*.body',
]

/** What an error line keeps: never a pg error's `detail` (it quotes row values), `where` or parameters. */
function errorForLog(error: unknown): Record<string, unknown> {
  const serialized = stdSerializers.err(error as Error) as unknown as Record<string, unknown>
  const kept: Record<string, unknown> = {}
  for (const key of ['type', 'message', 'code', 'stack', 'statusCode']) {
    if (serialized[key] !== undefined) kept[key] = serialized[key]
  }
  return kept
}

/**
 * Where a request's logger keeps its tenant. Binding it with `child()` per
 * request cost several percent of a request's CPU (pino serializes the bindings
 * up front); a property read by the logger's mixin costs nothing until a line is
 * written, and is inherited by any child of the request's logger.
 */
const tenantOfLogger = Symbol('tenantry.saas.logTenant')

type TenantFields = { readonly id: string; readonly slug: string }

function tenantMixin(_object: object, _level: number, logger?: unknown): Record<string, unknown> {
  const tenant = (logger as { [tenantOfLogger]?: TenantFields } | undefined)?.[tenantOfLogger]
  // pino merges into the returned object: a new one per line.
  return tenant === undefined ? {} : { tenant }
}

/**
 * The SaaS's pino logger: JSON lines, secrets redacted, and serializers that
 * keep only what is not personal data (no client IP, no headers, no bodies).
 * Its mixin writes the tenant bound by `installRequestLogging` on every line of
 * a tenant request, so an app given another logger loses that field.
 *
 * @example
 * const logger = createLogger({ level: 'info' })
 * const quiet = createLogger({ level: 'info' }, lines)   // a test capturing every line
 */
export function createLogger(options: { level: LoggerOptions['level'] }, destination?: DestinationStream): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'tenantry-saas' },
    redact: { paths: [...redactedPaths], censor: '[redacted]' },
    serializers: { err: errorForLog, error: errorForLog },
    mixin: tenantMixin,
  }
  return destination === undefined ? pino(config) : pino(config, destination)
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The request id: the caller's `x-request-id` when it is a plain token (so ids
 * can be followed across services, and a header cannot forge log lines), else a
 * new UUID.
 */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
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
  const log = request.log as unknown as { [tenantOfLogger]?: TenantFields }
  if (log[tenantOfLogger] !== undefined) return
  const tenant = tenantFields(request)
  if (tenant === undefined) return
  log[tenantOfLogger] = tenant
  if ((reply.log as unknown) !== log) (reply.log as unknown as { [tenantOfLogger]?: TenantFields })[tenantOfLogger] = tenant
}
