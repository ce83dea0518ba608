/**
 * pino logging by tenant: every line written in a tenant's scope (a request,
 * a job, anything `runWithTenant` runs) carries the tenant's id and slug and
 * the request id, and keys, tokens and configured fields are redacted.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { currentScope, validationError } from '@tenantry/core'
import { pino, stdSerializers, type DestinationStream, type Logger, type LoggerOptions } from 'pino'

/**
 * Paths pino blanks out wherever they appear in a line: credentials in
 * headers, API keys, tokens, passwords, and bodies (which may hold any of
 * them). Your `redact` paths are added to these.
 */
export const REDACTED_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'authorization',
  'cookie',
  'key',
  '*.key',
  'token',
  '*.token',
  'adminToken',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'body',
  '*.body',
])

/**
 * What an error line keeps: type, message, code, stack and status; never a pg
 * error's `detail` (it quotes row values), `where`, `hint` or parameters.
 *
 * @example
 * logger.error({ err: serializeError(error) }, 'query failed')
 */
export function serializeError(error: unknown): Record<string, unknown> {
  const serialized = stdSerializers.err(error as Error) as unknown as Record<string, unknown>
  const kept: Record<string, unknown> = {}
  for (const key of ['type', 'message', 'code', 'stack', 'statusCode', 'status']) {
    if (serialized[key] !== undefined) kept[key] = serialized[key]
  }
  return kept
}

const requestIds = new AsyncLocalStorage<string>()
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Runs `fn` with `id` as the request id every line written inside it carries
 * (`request_id`), across every async hop.
 *
 * @example
 * app.use((req, res, next) => runWithRequestId(requestIdFrom(req.headers), next))
 */
export function runWithRequestId<T>(id: string, fn: () => T): T {
  return requestIds.run(id, fn)
}

/** The request id in force (`runWithRequestId`), if any. */
export function currentRequestId(): string | undefined {
  return requestIds.getStore()
}

/**
 * The request id for an incoming request: the caller's `x-request-id` when it
 * is a plain token (so ids follow a call across services and a header cannot
 * forge log lines), else a new UUID.
 *
 * @example
 * const id = requestIdFrom(req.headers)
 */
export function requestIdFrom(headers: Readonly<Record<string, string | string[] | undefined>>): string {
  const given = headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/** Where a logger keeps a tenant bound to it (`bindLogTenant`). */
const boundTenant = Symbol('tenantry.logTenant')

type TenantFields = { readonly id: string; readonly slug: string }

/**
 * Binds a tenant to one logger (a framework's per-request logger, say) for the
 * lines written outside the tenant's scope (a response hook). A property the
 * mixin reads: nothing is serialized until a line is written. Children
 * created after inherit it.
 *
 * @example
 * bindLogTenant(request.log, request.tenant)
 */
export function bindLogTenant(logger: unknown, tenant: TenantFields): void {
  if (typeof logger !== 'object' || logger === null) return
  const target = logger as { [boundTenant]?: TenantFields }
  if (target[boundTenant] === undefined) target[boundTenant] = { id: tenant.id, slug: tenant.slug }
}

function tenantMixin(_object: object, _level: number, logger?: unknown): Record<string, unknown> {
  const scope = currentScope()
  const tenant = scope?.kind === 'tenant'
    ? { id: scope.tenant.id, slug: scope.tenant.slug }
    : (logger as { [boundTenant]?: TenantFields } | undefined)?.[boundTenant]
  const requestId = requestIds.getStore()
  // pino merges into the returned object: a new one per line, and none when there is nothing to add.
  if (tenant === undefined) return requestId === undefined ? {} : { request_id: requestId }
  return requestId === undefined ? { tenant } : { tenant, request_id: requestId }
}

export interface TenantLogOptions {
  /** Extra paths to redact (pino's path syntax: `user.email`, `*.ssn`). */
  readonly redact?: readonly string[]
  /** What replaces a redacted value; default `[redacted]`. */
  readonly censor?: string
}

/**
 * pino options that put the tenant (`tenant: { id, slug }`, from the tenant
 * scope in force or a logger's `bindLogTenant`) and the request id on every
 * line, redact `REDACTED_PATHS` and yours, and serialize errors without row
 * values. Merge into your own options; a `mixin` of yours runs after ours.
 *
 * @example
 * const logger = pino(tenantLogOptions({ level: 'info', base: { service: 'api' } }, { redact: ['*.email'] }))
 */
export function tenantLogOptions(options: LoggerOptions = {}, log: TenantLogOptions = {}): LoggerOptions {
  const extra = log.redact ?? []
  if (!Array.isArray(extra) || extra.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw validationError([{ path: 'redact', message: 'must be an array of pino redaction paths (strings)' }])
  }
  const own = options.mixin
  const given = options.redact
  const givenPaths = given === undefined ? [] : Array.isArray(given) ? given : given.paths
  return {
    ...options,
    redact: { paths: [...new Set([...REDACTED_PATHS, ...givenPaths, ...extra])], censor: log.censor ?? '[redacted]' },
    serializers: { err: serializeError, error: serializeError, ...options.serializers },
    mixin: own === undefined
      ? tenantMixin
      : (object, level, logger) => ({ ...tenantMixin(object, level, logger), ...own(object, level, logger) }),
  }
}

/**
 * A pino logger with `tenantLogOptions`.
 *
 * @example
 * const logger = createTenantLogger({ level: 'info' })
 * await runWithTenant(acme, async () => logger.info('exported'))   // {"tenant":{"id":"…","slug":"acme"},…}
 */
export function createTenantLogger(options: LoggerOptions = {}, destination?: DestinationStream, log: TenantLogOptions = {}): Logger {
  const config = tenantLogOptions(options, log)
  return destination === undefined ? pino(config) : pino(config, destination)
}
