import {
  DatabasePerTenantIsolation,
  SchemaPerTenantIsolation,
  SharedSchemaIsolation,
  TenantCatalog,
  TenantData,
  type PoolRouter,
  type PostgresTarget,
} from '@tenantry/postgres'
import type { Kysely } from 'kysely'
import { tenantTables, type SaasDatabase } from '../data/schema.ts'
import { TenantPlacements, loadTenantMigrations, tenantMigrationsDir } from '../tenants/provision.ts'
import { openEmbedded } from './embedded.ts'
import { openServer } from './server.ts'

export interface BackendOptions {
  /** PostgreSQL admin/owner URL; undefined = embedded PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined
  /** Folder of the embedded databases (unused with a URL). */
  readonly dataDir: string
  /**
   * The role tenant transactions of every model run as (on PostgreSQL the
   * runtime pools log in as it; not superuser, not BYPASSRLS, not the tables'
   * owner). Default `tenantry_app`.
   */
  readonly runtimeRole?: string
  /** Tenant migrations folder. Default apps/saas/migrations/tenant. */
  readonly migrationsDir?: string
}

/** Everything the SaaS keeps its data in, opened, migrated and checked. */
export interface SaasBackend {
  readonly kind: PostgresTarget['backend']
  /** Where the data is, for the start banner (no password). */
  readonly describe: string
  /** The main database: control plane, shared tables, tenant schemas. */
  readonly target: PostgresTarget
  readonly catalog: TenantCatalog
  readonly data: TenantData
  /** One Kysely instance for every tenant, whatever its model. */
  readonly db: Kysely<SaasDatabase>
  readonly placements: TenantPlacements
  readonly router: PoolRouter
  close(): Promise<void>
}

/**
 * Opens the databases, installs the catalog and the shared tables, and runs
 * doctor: an unsafe database (a superuser runtime role, a table without its
 * policy or tenant index) fails here, at start, with ISOLATION_MISCONFIGURED.
 *
 * @example
 * const backend = await openBackend({ databaseUrl: process.env.DATABASE_URL, dataDir: './.tenantry' })
 * try { ... } finally { await backend.close() }
 */
export async function openBackend(options: BackendOptions): Promise<SaasBackend> {
  const migrations = await loadTenantMigrations(options.migrationsDir ?? tenantMigrationsDir)
  const opened = options.databaseUrl === undefined ? await openEmbedded(options.dataDir) : openServer(options.databaseUrl)
  const models: { close(): Promise<void> }[] = []
  try {
    const { target, router, provisioner } = opened
    const runtimeRole = options.runtimeRole ?? 'tenantry_app'
    const catalog = new TenantCatalog({ target, defaultActor: 'saas' })
    await catalog.install()
    const shared = new SharedSchemaIsolation(target, { tables: [...tenantTables], runtimeRole })
    const schemas = new SchemaPerTenantIsolation(target, { runtimeRole })
    const databases = new DatabasePerTenantIsolation({ router, provisioner, runtimeRole })
    models.push(shared, schemas)
    const placements = new TenantPlacements({ target, shared, schemas, databases, migrations })
    await placements.migrateFleet()
    await shared.assertSafe()
    await schemas.assertSafe()
    await databases.assertSafe()
    const data = new TenantData({ shared, schema: schemas, database: databases })
    return {
      kind: target.backend,
      describe: opened.describe,
      target,
      catalog,
      data,
      db: data.kysely<SaasDatabase>(),
      placements,
      router,
      async close() {
        for (const model of models) await model.close()
        await opened.close()
      },
    }
  } catch (error) {
    for (const model of models) await model.close().catch(() => undefined)
    await opened.close().catch(() => undefined)
    throw error
  }
}
