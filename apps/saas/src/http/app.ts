import { forbiddenKeys, validationError, type CachedApiKeyVerifier, type CachedTenantDirectory, type TenantAdmission, type TenantHttpOptions } from '@tenantry/core'
import { tenantryFastify } from '@tenantry/fastify'
import type { TenantRecord } from '@tenantry/postgres'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Tenantry } from 'tenantry'
import { Projects } from '../data/projects.ts'
import type { SaasDatabase } from '../data/schema.ts'
import { Tasks } from '../data/tasks.ts'
import { adminRoutes } from './admin-routes.ts'
import { consoleApi, TenantIndex } from './console-api.ts'
import { consoleStatic } from './console-static.ts'
import { installRequestLogging, requestIdOf } from './logging.ts'
import { metricsRoute, type SaasObservability } from './observability.ts'
import { tenantRoutes } from './tenant-routes.ts'
import type { SaasJobs } from '../jobs/reports.ts'

export interface SaasAppOptions {
  /** The scoped database, the tenants' lifecycle, and resolution for the adapter. */
  readonly tenantry: Pick<Tenantry<SaasDatabase>, 'db' | 'tenants' | 'http' | 'directory' | 'apiKeys' | 'catalog' | 'migrator' | 'router' | 'target'>
  /** The admin API's bearer token. */
  readonly adminToken: string
  /** Tenants are `<slug>.<baseDomain>`; the bare base domain serves the admin API. */
  readonly baseDomain: string
  readonly logger: Logger
  /** Rate limit / bulkhead per tenant (`tenantry.admission`, or your own); none by default. */
  readonly admission?: TenantAdmission | undefined
  /** Metrics, traces and the live view (`saasObservability()`); with it, `GET /metrics` is served. */
  readonly observability?: SaasObservability | undefined
  /** Background reports (`startSaasJobs`): `POST/GET /api/reports`, and the console's per-tenant job counts. */
  readonly jobs?: SaasJobs | undefined
}

/** The app and the caches behind tenant resolution (for invalidation from elsewhere, e.g. Redis). */
export interface SaasApp {
  readonly app: FastifyInstance
  readonly directory: CachedTenantDirectory<TenantRecord>
  readonly apiKeys: CachedApiKeyVerifier
  /** What the Fastify adapter was given: resolution (subdomain, custom domain, X-Tenant-ID), API-key authentication, admission. */
  readonly http: TenantHttpOptions<TenantRecord>
}

/**
 * The Fastify instance every variant of the app starts from: our pino logger,
 * request ids, one log line per response, a body limit. The HTTP benchmark's
 * no-tenancy baseline starts from it too, so the two differ by tenancy alone.
 *
 * @example
 * const app = createFastify(createLogger({ level: 'info' }))
 */
export function createFastify(logger: Logger): FastifyInstance {
  const app = Fastify({
    // pino 9 (ours) and Fastify's bundled pino differ only in types.
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // One line per response, written by installRequestLogging with the tenant on it.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdOf,
    bodyLimit: 256 * 1024,
    // Same route with or without a trailing slash; ids and slugs are never that long.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Errors Fastify raises before any route runs (a URL that is not valid
    // percent-encoding, say) keep the contract's error shape.
    frameworkErrors: (error, _request, reply) => {
      const answer = reply as unknown as { code(status: number): { send(body: unknown): unknown } }
      void answer.code(400).send({ error: { code: 'VALIDATION_FAILED', message: `Malformed request: ${error.message}` } })
    },
    // Requests Node's HTTP parser refuses (a malformed header line, headers too
    // large) never reach Fastify: answer them in the same shape, then close.
    clientErrorHandler: (error: Error & { code?: string }, socket) => {
      if (!socket.writable) return socket.destroy()
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
      const body = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message: status === 431 ? 'Request headers are too large' : 'Malformed HTTP request' } })
      socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    },
  })
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody)
  return app
}

/**
 * JSON bodies, with honest refusals: text that is not JSON says where it
 * breaks; a `__proto__`, `constructor` or `prototype` key anywhere is named as
 * such (Fastify's own parser calls that "not valid JSON").
 */
function parseJsonBody(_request: unknown, body: string | Buffer, done: (error: Error | null, value?: unknown) => void): void {
  const text = typeof body === 'string' ? body : body.toString('utf8')
  if (text.trim() === '') return done(validationError([{ path: 'body', message: "is empty, but content-type is application/json: send a JSON value or no content-type" }]))
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return done(validationError([{ path: 'body', message: `is not valid JSON (${(error as Error).message})` }]))
  }
  const forbidden = forbiddenKeys(value, 'body')
  if (forbidden.length > 0) return done(validationError(forbidden))
  done(null, value)
}

/**
 * Builds the reference SaaS's Fastify app: the tenant API (resolved by
 * subdomain, custom domain or X-Tenant-ID, authenticated by the tenant's API key),
 * the admin API on the bare host, and /healthz. Not listening yet.
 *
 * @example
 * const { app } = await buildSaasApp({ tenantry, adminToken, baseDomain: 'localhost', logger })
 * await app.listen({ host: '127.0.0.1', port: 3000 })
 */
export async function buildSaasApp(options: SaasAppOptions): Promise<SaasApp> {
  const app = createFastify(options.logger)
  const { tenantry } = options
  // Every catalog change reaches these caches at once (other instances' through Redis): createTenantry keeps them current.
  const http: TenantHttpOptions<TenantRecord> = {
    resolution: tenantry.http.resolution,
    ...(tenantry.http.authenticate === undefined ? {} : { authenticate: tenantry.http.authenticate }),
    ...(options.admission === undefined ? {} : { admission: options.admission }),
    ...(tenantry.http.observer === undefined ? {} : { observer: tenantry.http.observer }),
  }
  // The SaaS answers every error and unknown route in Tenantry's shape, so the plugin takes both handlers.
  await app.register(tenantryFastify, { ...http, exclude: ['/admin', '/healthz', '/metrics'], errorHandler: true, notFoundHandler: true })
  installRequestLogging(app)

  app.get('/healthz', { config: { tenant: false } }, async () => ({ ok: true }))
  if (options.observability !== undefined) await app.register(metricsRoute, { metrics: options.observability.metrics, token: options.adminToken, baseDomain: options.baseDomain })
  const index = new TenantIndex(tenantry, options.observability?.live)
  await app.register(adminRoutes, { prefix: '/admin/api', tenants: tenantry.tenants, token: options.adminToken, baseDomain: options.baseDomain, index })
  await app.register(consoleApi, {
    prefix: '/admin/api',
    token: options.adminToken,
    baseDomain: options.baseDomain,
    sources: { tenants: tenantry.tenants, catalog: tenantry.catalog, migrator: tenantry.migrator, router: tenantry.router, admission: options.admission, live: options.observability?.live, jobs: options.jobs },
  })
  await app.register(consoleStatic, { baseDomain: options.baseDomain })
  await app.register(tenantRoutes, { prefix: '/api', projects: new Projects(tenantry.db), tasks: new Tasks(tenantry.db), jobs: options.jobs })
  return { app, directory: tenantry.directory, apiKeys: tenantry.apiKeys, http }
}
