import { performance } from 'node:perf_hooks'
import type { TenantAdmission } from '@tenantry/core'
import type { RedisClient, TenantInvalidation } from '@tenantry/redis'
import type { Logger } from 'pino'
import { openBackend, type SaasBackend } from './backend/index.ts'
import type { SaasConfig } from './config/index.ts'
import { defaultAdmission, type DefaultAdmission } from './fair-share.ts'
import { buildSaasApp, type SaasApp } from './http/app.ts'
import { createLogger } from './http/logging.ts'
import { TenantAdministration } from './tenants/administration.ts'
import { seedDemoTenants } from './tenants/demo.ts'

export interface SaasOptions {
  readonly config: Pick<SaasConfig, 'databaseUrl' | 'dataDir' | 'baseDomain' | 'logLevel'> & { readonly redisUrl?: string | undefined }
  readonly adminToken: string
  /**
   * Per-tenant rate limit / bulkhead: `'default'` for the plans in fair-share.ts
   * (what `npm start` uses; counters in Redis with REDIS_URL), or your own; none
   * when absent.
   */
  readonly admission?: TenantAdmission | 'default'
  /** Default: a pino logger at `config.logLevel` on stdout. */
  readonly logger?: Logger
  /** Create acme, globex and initech when the catalog has never had a tenant. Default true. */
  readonly seedDemo?: boolean
  /** Runtime role of every isolation model (tests use a unique one); database tenants get roles prefixed by it. Default `tenantry_app`. */
  readonly runtimeRole?: string
  /** Cache lifetimes of tenant resolution. */
  readonly cache?: { readonly tenantTtlMs?: number; readonly apiKeyTtlMs?: number }
}

/** A booted SaaS: the app (not listening yet) and what it runs on. */
export interface Saas extends SaasApp {
  readonly backend: SaasBackend
  readonly admin: TenantAdministration
  /** Slugs of the demo tenants this start created (empty after the first start). */
  readonly seeded: readonly string[]
  /** Closes the app, then the databases. */
  close(): Promise<void>
}

/**
 * Boots the reference SaaS: opens and checks the databases (doctor fails an
 * unsafe one here), seeds the demo tenants on first start, builds the app.
 *
 * @example
 * const saas = await createSaas({ config: loadConfig(), adminToken })
 * await saas.app.listen({ host: '127.0.0.1', port: 3000 })
 * process.on('SIGTERM', () => void saas.close())
 */
export async function createSaas(options: SaasOptions): Promise<Saas> {
  const { config } = options
  const logger = options.logger ?? createLogger({ level: config.logLevel })
  const started = performance.now()
  const backend = await openBackend({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(options.runtimeRole === undefined ? {} : { runtimeRole: options.runtimeRole }),
  })
  let limits: DefaultAdmission | undefined
  try {
    if (options.admission === 'default') limits = await defaultAdmission({ redisUrl: config.redisUrl })
    const admin = new TenantAdministration({ catalog: backend.catalog, placements: backend.placements })
    const opened = performance.now()
    const seeded = options.seedDemo === false ? [] : await seedDemoTenants(backend, admin)
    const seededAt = performance.now()
    const built = await buildSaasApp({
      catalog: backend.catalog,
      db: backend.db,
      admin,
      adminToken: options.adminToken,
      baseDomain: config.baseDomain,
      logger,
      admission: limits?.admission ?? (options.admission === 'default' ? undefined : options.admission),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
    })
    const invalidation = config.redisUrl === undefined ? undefined : await invalidationOverRedis(config.redisUrl, built, backend)
    const ms = (from: number, to: number): number => Math.round(to - from)
    logger.debug({ backendMs: ms(started, opened), demoMs: ms(opened, seededAt), appMs: ms(seededAt, performance.now()) }, 'booted')
    let closing: Promise<void> | undefined
    return {
      ...built,
      backend,
      admin,
      seeded,
      close() {
        closing ??= (async () => {
          await built.app.close()
          await invalidation?.close()
          await limits?.close()
          await backend.close()
        })()
        return closing
      },
    }
  } catch (error) {
    await limits?.close().catch(() => undefined)
    await backend.close().catch(() => undefined)
    throw error
  }
}

/**
 * With REDIS_URL, every catalog change made by this instance is published, and
 * every other instance's is applied to this one's caches: a suspend or delete on
 * one instance is seen by all within one pub/sub hop. Fails at start when Redis
 * cannot be reached.
 */
async function invalidationOverRedis(url: string, built: SaasApp, backend: SaasBackend): Promise<TenantInvalidation> {
  // Loaded only with REDIS_URL: ioredis is not worth its load time to `npm start` without it.
  const { connectRedis, redisTenantInvalidation } = await import('@tenantry/redis')
  const clients: RedisClient[] = []
  try {
    // One connection publishes, one subscribes (a subscribed connection can do nothing else).
    clients.push(await connectRedis({ url }), await connectRedis({ url }))
  } catch (error) {
    await Promise.allSettled(clients.map((c) => c.quit()))
    throw error
  }
  const pending = [...clients]
  const invalidation = await redisTenantInvalidation({
    redis: () => pending.shift() as RedisClient,
    directory: built.directory,
    apiKeys: built.apiKeys,
  })
  const off = backend.catalog.onChange(invalidation.listener)
  return {
    ...invalidation,
    async close() {
      off()
      await invalidation.close()
    },
  }
}
