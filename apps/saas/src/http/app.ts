import {
  CachedApiKeyVerifier,
  CachedTenantDirectory,
  TenantResolution,
  apiKeyAuthenticator,
  applyTenantChange,
  customDomainResolver,
  headerResolver,
  subdomainResolver,
  type TenantAdmission,
} from '@tenantry/core'
import { tenantryFastify } from '@tenantry/fastify'
import type { TenantCatalog, TenantRecord } from '@tenantry/postgres'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Kysely } from 'kysely'
import { Projects } from '../data/projects.ts'
import type { SaasDatabase } from '../data/schema.ts'
import { Tasks } from '../data/tasks.ts'
import type { TenantAdministration } from '../tenants/administration.ts'
import { adminRoutes } from './admin-routes.ts'
import { installRequestLogging, requestIdOf } from './logging.ts'
import { tenantRoutes } from './tenant-routes.ts'

export interface SaasAppOptions {
  readonly catalog: TenantCatalog
  readonly db: Kysely<SaasDatabase>
  readonly admin: TenantAdministration
  /** The admin API's bearer token. */
  readonly adminToken: string
  /** Tenants are `<slug>.<baseDomain>`; the bare base domain serves the admin API. */
  readonly baseDomain: string
  readonly logger: Logger
  /** Rate limit / bulkhead per tenant (`tenantAdmission(...)`); none by default. */
  readonly admission?: TenantAdmission | undefined
  /** How long a resolved tenant and a verified key are served from memory. */
  readonly cache?: { readonly tenantTtlMs?: number; readonly apiKeyTtlMs?: number }
}

/** The app and the caches behind tenant resolution (for invalidation from elsewhere, e.g. Redis). */
export interface SaasApp {
  readonly app: FastifyInstance
  readonly directory: CachedTenantDirectory<TenantRecord>
  readonly apiKeys: CachedApiKeyVerifier
  /** How the app finds each request's tenant (subdomain, custom domain, X-Tenant-ID). */
  readonly resolution: TenantResolution<TenantRecord>
  /** How the app checks each tenant request's API key. */
  readonly authenticate: ReturnType<typeof apiKeyAuthenticator>
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
  return Fastify({
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
}

/**
 * Builds the reference SaaS's Fastify app: the tenant API (resolved by
 * subdomain, custom domain or X-Tenant-ID, authenticated by the tenant's API key),
 * the admin API on the bare host, and /healthz. Not listening yet.
 *
 * @example
 * const { app } = await buildSaasApp({ catalog, db, admin, adminToken, baseDomain: 'localhost', logger })
 * await app.listen({ host: '127.0.0.1', port: 3000 })
 */
export async function buildSaasApp(options: SaasAppOptions): Promise<SaasApp> {
  const app = createFastify(options.logger)

  const directory = new CachedTenantDirectory<TenantRecord>(options.catalog, { ttlMs: options.cache?.tenantTtlMs ?? 30_000 })
  const apiKeys = new CachedApiKeyVerifier(options.catalog, { ttlMs: options.cache?.apiKeyTtlMs ?? 10_000 })
  // Every committed catalog change in this process drops what the caches hold for
  // the tenant at once (other instances hear of it through Redis, see saas.ts).
  const offCatalog = options.catalog.onChange((change) => applyTenantChange(change, { directory, apiKeys }))
  // A deleted tenant's record no longer lists its domains: forget those too.
  const offAdmin = options.admin.onChange((tenant, kind) => {
    directory.invalidateTenant(tenant.id)
    directory.invalidateSlug(tenant.slug)
    for (const domain of tenant.domains) directory.invalidateDomain(domain)
    if (kind === 'deleted') apiKeys.invalidateTenant(tenant.id)
  })
  app.addHook('onClose', async () => {
    offCatalog()
    offAdmin()
  })

  const resolution = new TenantResolution<TenantRecord>({
    resolvers: [
      subdomainResolver({ baseDomains: [options.baseDomain] }),
      customDomainResolver({ excludeBaseDomains: [options.baseDomain] }),
      headerResolver(),
    ],
    directory,
  })
  const authenticate = apiKeyAuthenticator(apiKeys)
  await app.register(tenantryFastify, {
    resolution,
    authenticate,
    ...(options.admission === undefined ? {} : { admission: options.admission }),
    exclude: ['/admin', '/healthz'],
  })
  installRequestLogging(app)

  app.get('/healthz', { config: { tenant: false } }, async () => ({ ok: true }))
  await app.register(adminRoutes, { prefix: '/admin/api', admin: options.admin, token: options.adminToken, baseDomain: options.baseDomain })
  await app.register(tenantRoutes, { prefix: '/api', projects: new Projects(options.db), tasks: new Tasks(options.db) })
  return { app, directory, apiKeys, resolution, authenticate }
}
