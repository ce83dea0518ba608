/**
 * Where a tenant's data goes, and how it goes away: creates a new tenant's
 * placement (nothing for the shared model, a schema, or a database) and runs the
 * SaaS's tenant migrations (apps/saas/migrations/tenant) in it; purges it on
 * deletion. Kept in this one file on purpose: the fleet migration runner
 * (packages/postgres/src/migrations) replaces the migration part.
 */
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { TenantryError, type IsolationModelName, type Tenant, type TenantPlacement } from '@tenantry/core'
import type { DatabasePerTenantIsolation, PostgresTarget, SchemaPerTenantIsolation, SharedSchemaIsolation } from '@tenantry/postgres'
import type pg from 'pg'
import { tenantTables } from '../data/schema.ts'

/** A tenant migration file: `NNNN_name.ts` exporting up (and down). */
export interface TenantMigration {
  readonly id: string
  up(ctx: { client: pg.ClientBase; model: IsolationModelName }): Promise<void>
  down?(ctx: { client: pg.ClientBase; model: IsolationModelName }): Promise<void>
}

/** The SaaS's tenant migrations folder. */
export const tenantMigrationsDir = fileURLToPath(new URL('../../migrations/tenant/', import.meta.url))

const MIGRATION_FILE = /^(\d{4,}_[a-z0-9_]+)\.(ts|js|mjs)$/

/**
 * Loads the migrations of a folder in file-name order.
 *
 * @example
 * const migrations = await loadTenantMigrations(tenantMigrationsDir)
 */
export async function loadTenantMigrations(dir: string = tenantMigrationsDir): Promise<TenantMigration[]> {
  const files = (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f) && !f.endsWith('.d.ts')).sort()
  const migrations: TenantMigration[] = []
  for (const file of files) {
    const id = (MIGRATION_FILE.exec(file) as RegExpExecArray)[1] as string
    if (migrations.some((m) => m.id === id)) continue // the same migration as .ts and .js
    const module = (await import(pathToFileURL(`${dir}/${file}`).href)) as Partial<TenantMigration>
    if (typeof module.up !== 'function') throw new TenantryError('INTERNAL', `Tenant migration ${file} exports no up() function`)
    migrations.push({ id, up: module.up, ...(typeof module.down === 'function' ? { down: module.down } : {}) })
  }
  return migrations
}

export interface TenantPlacementsOptions {
  /** The main database: control plane, shared tables, tenant schemas. */
  readonly target: PostgresTarget
  readonly shared: SharedSchemaIsolation
  readonly schemas: SchemaPerTenantIsolation
  readonly databases: DatabasePerTenantIsolation
  readonly migrations: readonly TenantMigration[]
}

/** Records which tenant migrations the shared tables have had (the runner will own this). */
const SHARED_LEDGER = 'saas_shared_migrations'

/**
 * Creates and purges tenants' placements in the three isolation models.
 *
 * @example
 * const placements = new TenantPlacements({ target, shared, schemas, databases, migrations })
 * await placements.installShared()                  // at boot
 * await catalog.setPlacement(t.id, await placements.provision(t))
 */
export class TenantPlacements {
  readonly #options: TenantPlacementsOptions

  constructor(options: TenantPlacementsOptions) {
    this.#options = options
  }

  /**
   * Applies the tenant migrations the shared tables have not had yet, under an
   * advisory lock (two instances booting at once apply each migration once), then
   * installs the shared model's role, grants and RLS policies.
   */
  async installShared(): Promise<void> {
    const { target, shared, migrations } = this.#options
    const client = await target.pool.connect()
    try {
      await client.query('begin')
      await client.query("select pg_advisory_xact_lock(hashtext('tenantry.saas.shared_migrations'))")
      await client.query(`create table if not exists ${SHARED_LEDGER} (id text primary key, applied_at timestamptz not null default now())`)
      const applied = new Set((await client.query<{ id: string }>(`select id from ${SHARED_LEDGER}`)).rows.map((r) => r.id))
      for (const migration of migrations) {
        if (applied.has(migration.id)) continue
        await migration.up({ client, model: 'shared' })
        await client.query(`insert into ${SHARED_LEDGER} (id) values ($1)`, [migration.id])
      }
      await client.query('commit')
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
    await shared.install()
  }

  /** Makes the tenant's schema or database with every tenant migration applied; returns its placement. */
  async provision(tenant: Tenant): Promise<TenantPlacement> {
    const { schemas, databases } = this.#options
    switch (tenant.isolation) {
      case 'shared':
        return tenant.placement
      case 'schema':
        return schemas.provision(tenant, (client) => this.#migrate(client, 'schema'))
      case 'database':
        return databases.provision(tenant, (client) => this.#migrate(client, 'database'))
    }
  }

  /**
   * Deletes every row, schema or database of the tenant. Idempotent, so a
   * deletion that failed half way can be run again.
   */
  async purge(tenant: Tenant): Promise<void> {
    const { target, shared, schemas, databases } = this.#options
    switch (tenant.isolation) {
      case 'shared': {
        const client = await target.pool.connect()
        try {
          await client.query('begin')
          // As the owner, under FORCE RLS: the tenant setting makes the policy match this tenant's rows.
          await client.query('select set_config($1, $2, true)', [shared.options.tenantSetting, tenant.id])
          for (const table of [...tenantTables].reverse()) {
            await client.query(`delete from ${table} where ${shared.options.tenantColumn} = $1`, [tenant.id])
          }
          await client.query('commit')
        } catch (error) {
          await client.query('rollback').catch(() => undefined)
          throw error
        } finally {
          client.release()
        }
        return
      }
      case 'schema':
        return schemas.deprovision(tenant)
      case 'database':
        return databases.deprovision(tenant)
    }
  }

  async #migrate(client: pg.ClientBase, model: 'schema' | 'database'): Promise<void> {
    for (const migration of this.#options.migrations) await migration.up({ client, model })
  }
}
