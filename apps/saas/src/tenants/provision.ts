/**
 * Where a tenant's data goes, and how it goes away. The SaaS's tenant
 * migrations (apps/saas/migrations/tenant) run through Tenantry's fleet
 * migrator: at boot for the shared tables and every tenant schema and database
 * that is behind (resumable, per-target ledger, one runner at a time), and for a
 * new tenant when it is provisioned, so it starts at the latest migration.
 */
import { fileURLToPath } from 'node:url'
import { TenantryError, type Tenant, type TenantPlacement } from '@tenantry/core'
import {
  FleetMigrator, loadMigrations,
  type DatabasePerTenantIsolation, type Migration, type MigrationRunSummary, type PostgresTarget, type SchemaPerTenantIsolation, type SharedSchemaIsolation,
} from '@tenantry/postgres'

/** The SaaS's tenant migrations folder. */
export const tenantMigrationsDir = fileURLToPath(new URL('../../migrations/tenant/', import.meta.url))

/**
 * Loads the SaaS's tenant migrations (file-name order, checksummed).
 *
 * @example
 * const migrations = await loadTenantMigrations()
 */
export function loadTenantMigrations(dir: string = tenantMigrationsDir): Promise<readonly Migration[]> {
  return loadMigrations(dir)
}

export interface TenantPlacementsOptions {
  /** The main database: control plane, shared tables, tenant schemas. */
  readonly target: PostgresTarget
  readonly shared: SharedSchemaIsolation
  readonly schemas: SchemaPerTenantIsolation
  readonly databases: DatabasePerTenantIsolation
  readonly migrations: readonly Migration[]
}

/**
 * Creates, migrates and purges tenants' placements in the three isolation models.
 *
 * @example
 * const placements = new TenantPlacements({ target, shared, schemas, databases, migrations })
 * await placements.migrateFleet()                   // at boot
 * await catalog.setPlacement(t.id, await placements.provision(t))
 */
export class TenantPlacements {
  readonly #options: TenantPlacementsOptions
  readonly migrator: FleetMigrator

  constructor(options: TenantPlacementsOptions) {
    this.#options = options
    this.migrator = new FleetMigrator({
      control: options.target,
      tenantMigrations: options.migrations,
      shared: options.shared,
      schema: options.schemas,
      database: options.databases,
    })
  }

  /**
   * Brings the shared tables and every tenant behind to the latest migration
   * (waiting for another instance's run to finish), then installs the shared
   * model's role, grants and RLS policies. A tenant that fails stops the boot
   * with MIGRATION_FAILED naming it; `tenantry migrate status` shows the rest.
   */
  async migrateFleet(): Promise<MigrationRunSummary> {
    const summary = await this.migrator.migrate({ waitForLockMs: 120_000, continueOnError: true })
    if (!summary.ok) {
      const failures = summary.failed.map((f) => `${f.target.label}: ${f.error?.message ?? 'unknown error'}`)
      throw new TenantryError('MIGRATION_FAILED', `Tenant migrations failed at start: ${failures.join('; ')}`, { details: failures })
    }
    await this.#options.shared.install()
    return summary
  }

  /** Makes the tenant's schema or database with every tenant migration applied; returns its placement. */
  provision(tenant: Tenant): Promise<TenantPlacement> {
    return this.migrator.provision(tenant)
  }

  /**
   * Deletes every row, schema or database of the tenant, and its migration
   * ledger. Idempotent, so a deletion that failed half way can be run again.
   */
  purge(tenant: Tenant): Promise<void> {
    return this.migrator.deprovision(tenant)
  }
}
