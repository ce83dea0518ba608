/**
 * Property: any query Kysely can build over the tenant tables (all join kinds,
 * subqueries in WHERE and FROM, CTEs that shadow tenant tables, OR-heavy filters,
 * aggregates, UPDATE / DELETE / INSERT ... SELECT with RETURNING), run as tenant B
 * through Tenantry, gives exactly what it gives unscoped on a copy of B's rows only.
 *
 * FUZZ_RUNS (default 1000) sets the queries per wall and backend. A failure prints
 * the shrunk query, both compiled statements and both results, plus fast-check's
 * `{ seed, path }`: FUZZ_SEED=<seed> FUZZ_PATH=<path> replays exactly that case.
 * The schema and database models have their own run: leak-fuzz-models.test.ts.
 */
import { after, before, describe, it } from 'node:test'
import { Kysely, PostgresDialect } from 'kysely'
import { SharedSchemaIsolation, type SharedWalls } from '@tenantry/postgres'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { querySpec } from './fuzz/generate.ts'
import { assertLeakCaught, assertNoLeak, RUNS } from './fuzz/run.ts'
import { createFuzzWorld, GLOBAL_TABLE, TENANT_TABLES, tenantA, tenantB, tenantC } from './fuzz/schema.ts'

const wallCases: { name: string; walls: SharedWalls }[] = [
  { name: 'the plugin wall only', walls: { plugin: true, rls: false } },
  { name: 'the RLS wall only', walls: { plugin: false, rls: true } },
  { name: 'both walls', walls: { plugin: true, rls: true } },
]

for (const backend of testBackends()) {
  describe(`leak fuzzer on ${backend.name}`, () => {
    let database: TestDatabase
    let oracleDb: Kysely<any>
    const role = uniqueName('tenantry_app')
    // The plugin alone, on tables that have RLS: its role bypasses RLS, so only the plugin stands between tenants.
    const pluginRole = uniqueName('tenantry_plugin_only')
    const roleFor = (walls: SharedWalls): string => (walls.rls ? role : pluginRole)

    before(async () => {
      database = await backend.createDatabase()
      await createFuzzWorld(database.pool)
      await new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE], runtimeRole: role }).install()
      await new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE], runtimeRole: pluginRole, walls: { plugin: true, rls: false } }).install()
      await database.pool.query(`alter role ${pluginRole} bypassrls`)
      oracleDb = new Kysely({ dialect: new PostgresDialect({ pool: database.pool }) })
    })

    after(async () => {
      await dropRoles(database, [role, pluginRole])
      await database.close()
    })

    for (const { name, walls } of wallCases) {
      it(`gives tenant B exactly the oracle's answer (B's rows only) for ${RUNS} random queries with ${name}`, async (t) => {
        const db = new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], runtimeRole: roleFor(walls), walls }).kysely()
        await assertNoLeak(t, { db, oracleDb, tenant: tenantB, foreignTenantIds: [tenantA.id, tenantC.id], specs: querySpec, label: name })
      })
    }

    it('catches a leak the walls would let through: with a plugin that does not know the comments table, the property fails', async () => {
      const blind = new SharedSchemaIsolation(database, { tables: ['projects', 'tasks'], runtimeRole: pluginRole, walls: { plugin: true, rls: false } }).kysely()
      await assertLeakCaught({ db: blind, oracleDb, tenant: tenantB, foreignTenantIds: [tenantA.id, tenantC.id], specs: querySpec, label: 'plugin without comments' })
    })
  })
}
