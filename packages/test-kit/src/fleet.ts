/**
 * A fleet for migration tests: a catalog, the shared tables, and the schema and
 * database models, on one test database (PGlite or PostgreSQL).
 */
import type { IsolationModelName } from '@tenantry/core'
import {
  DatabasePerTenantIsolation, FleetMigrator, PoolRouter, SchemaPerTenantIsolation, SharedSchemaIsolation, TenantCatalog, TenantLifecycle,
  defineMigration, type Migration, type MigrationContext, type TenantRecord,
} from '@tenantry/postgres'
import { dropRoles, uniqueName, type TestBackend, type TestDatabase } from './backends.ts'
import { openModels } from './models.ts'

/** A table each migration of the test set creates: `t0001`, `t0002`, … (with tenant_id in the shared model). */
export function tableMigration(n: number, extra: Partial<Parameters<typeof defineMigration>[0]> = {}): Migration {
  const id = String(n).padStart(4, '0')
  return defineMigration({
    id: `${id}_t${id}`,
    up: async ({ client, model }: MigrationContext) => {
      const tenantColumn = model === 'shared' ? ', tenant_id uuid not null' : ''
      await client.query(`create table t${id} (id int generated always as identity primary key, name text not null${tenantColumn})`)
      if (model === 'shared') await client.query(`create index on t${id} (tenant_id, id)`)
    },
    down: `drop table t${id}`,
    checksum: `table-${id}`,
    ...extra,
  })
}

export interface Fleet {
  readonly database: TestDatabase
  readonly catalog: TenantCatalog
  readonly shared: SharedSchemaIsolation
  readonly schema: SchemaPerTenantIsolation
  readonly databases: DatabasePerTenantIsolation
  readonly router: PoolRouter
  migrator(tenantMigrations: readonly Migration[], controlMigrations?: readonly Migration[]): FleetMigrator
  /** The lifecycle at the given migrations (create, offboard). */
  lifecycle(tenantMigrations: readonly Migration[]): TenantLifecycle
  /** Onboards tenants at the given migrations. */
  onboard(migrations: readonly Migration[], tenants: readonly [string, IsolationModelName][]): Promise<TenantRecord[]>
  /** Tables of a tenant's schema or database, or of the shared schema. */
  tablesOf(tenant: TenantRecord | 'shared'): Promise<string[]>
  close(): Promise<void>
}

export async function createFleet(backend: TestBackend, sharedTables: readonly string[] = ['t0001']): Promise<Fleet> {
  const database = await backend.createDatabase()
  const catalog = new TenantCatalog(database)
  await catalog.install()
  const role = uniqueName('tenantry_app')
  const models = await openModels(backend, database, { role, shared: { tables: [...sharedTables] }, installShared: false })
  const shared = models.shared!
  const schema = models.schemas
  const router = models.router
  const databases = models.databases
  const onboarded: TenantRecord[] = []
  const fleet: Fleet = {
    database, catalog, shared, schema, databases, router,
    migrator: (tenantMigrations, controlMigrations) => new FleetMigrator({ control: database, tenantMigrations, controlMigrations, shared, schema, database: databases }),
    lifecycle: (tenantMigrations) => new TenantLifecycle({ catalog, data: models.tenantry.data, migrator: fleet.migrator(tenantMigrations) }),
    async onboard(migrations, tenants) {
      const lifecycle = fleet.lifecycle(migrations)
      const out: TenantRecord[] = []
      for (const [slug, isolation] of tenants) out.push(await lifecycle.create({ slug, name: slug, isolation }))
      onboarded.push(...out)
      return out
    },
    async tablesOf(tenant) {
      if (tenant !== 'shared' && tenant.isolation === 'database') {
        return databases.router.withClient({ ...tenant.placement, database: tenant.placement.database! }, async (c) =>
          (await c.query<{ t: string }>(`select tablename as t from pg_tables where schemaname = 'public' order by 1`)).rows.map((r) => r.t))
      }
      const name = tenant === 'shared' ? 'public' : tenant.placement.schema!
      return (await database.pool.query<{ t: string }>(`select tablename as t from pg_tables where schemaname = $1 order by 1`, [name])).rows.map((r) => r.t)
    },
    async close() {
      for (const tenant of onboarded.filter((t) => t.isolation === 'database')) await databases.deprovision(tenant).catch(() => undefined)
      await models.close()
      await dropRoles(database, [role])
      await database.close()
    },
  }
  return fleet
}
