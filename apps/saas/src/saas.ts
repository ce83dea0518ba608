import type { TenantAdmission } from '@tenantry/core'
import type { Logger } from 'pino'
import { openBackend, type SaasBackend } from './backend/index.ts'
import type { SaasConfig } from './config/index.ts'
import { buildSaasApp, type SaasApp } from './http/app.ts'
import { createLogger } from './http/logging.ts'
import { TenantAdministration } from './tenants/administration.ts'
import { seedDemoTenants } from './tenants/demo.ts'

export interface SaasOptions {
  readonly config: Pick<SaasConfig, 'databaseUrl' | 'dataDir' | 'baseDomain' | 'logLevel'>
  readonly adminToken: string
  /** Per-tenant rate limit / bulkhead; none by default. */
  readonly admission?: TenantAdmission
  /** Default: a pino logger at `config.logLevel` on stdout. */
  readonly logger?: Logger
  /** Create acme, globex and initech when the catalog has never had a tenant. Default true. */
  readonly seedDemo?: boolean
  /** Runtime role of the shared and schema models (tests use a unique one). Default `tenantry_app`. */
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
  const backend = await openBackend({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    ...(options.runtimeRole === undefined ? {} : { runtimeRole: options.runtimeRole }),
  })
  try {
    const admin = new TenantAdministration({ catalog: backend.catalog, placements: backend.placements })
    const seeded = options.seedDemo === false ? [] : await seedDemoTenants(backend, admin)
    const built = await buildSaasApp({
      catalog: backend.catalog,
      db: backend.db,
      admin,
      adminToken: options.adminToken,
      baseDomain: config.baseDomain,
      logger,
      admission: options.admission,
      ...(options.cache === undefined ? {} : { cache: options.cache }),
    })
    let closing: Promise<void> | undefined
    return {
      ...built,
      backend,
      admin,
      seeded,
      close() {
        closing ??= (async () => {
          await built.app.close()
          await backend.close()
        })()
        return closing
      },
    }
  } catch (error) {
    await backend.close().catch(() => undefined)
    throw error
  }
}
