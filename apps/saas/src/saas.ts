import { performance } from 'node:perf_hooks'
import type { TenantAdmission } from '@tenantry/core'
import type { Logger } from 'pino'
import { createTenantry, type Tenantry } from 'tenantry'
import type { SaasConfig } from './config/index.ts'
import type { SaasDatabase } from './data/schema.ts'
import { buildSaasApp, type SaasApp } from './http/app.ts'
import { Projects } from './data/projects.ts'
import { startSaasJobs, type SaasJobs } from './jobs/reports.ts'
import { createLogger } from './http/logging.ts'
import { saasObservability, type SaasObservability } from './http/observability.ts'
import { seedDemoTenants } from './tenants/demo.ts'
import { saasTenantryConfig } from './tenantry-config.ts'

export interface SaasOptions {
  readonly config: Pick<SaasConfig, 'databaseUrl' | 'dataDir' | 'baseDomain' | 'logLevel'> & { readonly redisUrl?: string | undefined }
  readonly adminToken: string
  /**
   * Per-tenant rate limit / bulkhead: `'default'` for the plans' limits and the
   * bulkhead of saasTenantryConfig (what `npm start` uses; counters in Redis
   * with REDIS_URL), or your own; none when absent.
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
  /**
   * Metrics (`GET /metrics`), traces and the live view: on by default;
   * `false` runs without them (the HTTP benchmark's comparison).
   */
  readonly observability?: boolean
  /**
   * Background reports on BullMQ (`POST /api/reports`), with `config.redisUrl`:
   * on by default there, `false` runs without. `prefix` names the queue's keys
   * (tests use their own). The embedded default (no Redis) has no queue.
   */
  readonly jobs?: boolean | { readonly prefix?: string }
}

/** A booted SaaS: the app (not listening yet) and the Tenantry it runs on. */
export interface Saas extends SaasApp {
  readonly tenantry: Tenantry<SaasDatabase>
  /** Slugs of the demo tenants this start created (empty after the first start). */
  readonly seeded: readonly string[]
  /** Metrics, traces and the live view; undefined with `observability: false`. */
  readonly observability: SaasObservability | undefined
  /** The report queue and its worker; undefined without Redis or with `jobs: false`. */
  readonly jobs: SaasJobs | undefined
  /** Closes the app, the queue's worker, then Tenantry. */
  close(): Promise<void>
}

/**
 * Boots the reference SaaS: `createTenantry` opens, migrates and checks the
 * databases (doctor fails an unsafe one here), the demo tenants are seeded on
 * first start, and the app is built.
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
  const observability = options.observability === false ? undefined : saasObservability()
  const tenantry = await createTenantry<SaasDatabase>({
    ...saasTenantryConfig(config, {
      ...(options.runtimeRole === undefined ? {} : { runtimeRole: options.runtimeRole }),
      ...(options.cache === undefined ? {} : { cache: options.cache }),
    }),
    onWarning: (message) => logger.warn(message),
    ...(observability === undefined ? {} : { observe: { requests: observability.requests, queries: observability.queries } }),
  })
  let jobs: SaasJobs | undefined
  try {
    if (config.redisUrl !== undefined && options.jobs !== false) {
      jobs = startSaasJobs({
        redisUrl: config.redisUrl,
        tenants: tenantry.directory,
        projects: new Projects(tenantry.db),
        ...(typeof options.jobs === 'object' && options.jobs.prefix !== undefined ? { prefix: options.jobs.prefix } : {}),
        ...(observability === undefined ? {} : { observer: observability.metrics.jobObserver() }),
        onError: (error) => logger.warn({ err: error }, 'report queue: connection error'),
      })
    }
    const opened = performance.now()
    const seeded = options.seedDemo === false ? [] : await seedDemoTenants(tenantry)
    const seededAt = performance.now()
    const admission = options.admission === 'default' ? tenantry.admission : options.admission
    const built = await buildSaasApp({
      tenantry,
      adminToken: options.adminToken,
      baseDomain: config.baseDomain,
      logger,
      admission,
      observability,
      jobs,
    })
    if (observability !== undefined && tenantry.router !== undefined) observability.metrics.watchPoolRouter(tenantry.router)
    // The start's fleet run (createTenantry migrates before it returns): tenantry_migration_runs_total.
    if (observability !== undefined && tenantry.migration !== undefined) observability.metrics.migrationRun(tenantry.migration.ok ? 'ok' : 'failed')
    const ms = (from: number, to: number): number => Math.round(to - from)
    logger.debug({ tenantryMs: ms(started, opened), demoMs: ms(opened, seededAt), appMs: ms(seededAt, performance.now()) }, 'booted')
    let closing: Promise<void> | undefined
    return {
      ...built,
      tenantry,
      seeded,
      observability,
      jobs,
      close() {
        closing ??= (async () => {
          await built.app.close()
          await jobs?.close()
          await tenantry.close()
        })()
        return closing
      },
    }
  } catch (error) {
    await jobs?.close().catch(() => undefined)
    await tenantry.close().catch(() => undefined)
    throw error
  }
}
