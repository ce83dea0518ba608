/**
 * The leak property for the schema and database models: tenants A, B and C each
 * hold the fuzzer's overlapping rows (without the tenant column, with a copy of the
 * global table) in a schema or database of their own; random queries run as B
 * through the model's own Kysely instance and through a TenantData serving all
 * three models must give exactly what they give, unscoped, on an oracle schema
 * holding only B's rows. Nothing is rewritten for these tenants: the property
 * checks that every statement, in or out of a transaction, reaches B's placement
 * and nothing else.
 *
 * FUZZ_RUNS (default 1000) sets the queries per model, instance and backend;
 * FUZZ_SEED / FUZZ_PATH replay a failure (see fuzz/run.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import type { ScopedTenant } from '@tenantry/core'
import {
  DatabasePerTenantIsolation, PoolRouter, SchemaPerTenantIsolation, SharedSchemaIsolation, TenantData, serverDatabases, serverProvisioner,
} from '@tenantry/postgres'
import { pgliteDatabases, pgliteProvisioner } from '@tenantry/postgres/pglite'
import { Kysely, PostgresDialect } from 'kysely'
import { dropRoles, testBackends, uniqueName, type TestDatabase, openModels, type TestModels } from '@tenantry/test-kit'
import { querySpecs } from './fuzz/generate.ts'
import { assertLeakCaught, assertNoLeak, RUNS } from './fuzz/run.ts'
import { createFuzzWorld, createPlacedOracle, GLOBAL_TABLE, placedSetup, TENANT_TABLES, tenantA, tenantB, tenantC } from './fuzz/schema.ts'

const ORACLE = { schema: 'oracle_placed', tenantColumn: false } as const
const placedSpecs = querySpecs({ tenantColumn: false })
const MODELS = ['schema', 'database'] as const
type PlacedModel = (typeof MODELS)[number]

for (const backend of testBackends()) {
  describe(`leak fuzzer on the schema and database models on ${backend.name}`, () => {
    let database: TestDatabase
    let oracleDb: Kysely<any>
    let shared: SharedSchemaIsolation
    let schemas: SchemaPerTenantIsolation
    let router: PoolRouter
    let databases: DatabasePerTenantIsolation
    let dataDir: string | undefined
    const role = uniqueName('tenantry_app')
    let models: TestModels
    /** A, B and C of each model, placed and seeded. */
    const placed: Record<PlacedModel, ScopedTenant[]> = { schema: [], database: [] }
    const sharedTenant: ScopedTenant = { ...tenantA, isolation: 'shared' }
    /** The instances under test, and the tenant whose run of each query precedes B's on it. */
    const instances = (model: PlacedModel) => [
      { via: 'its own kysely(), each query first run as A', db: () => (model === 'schema' ? schemas.kysely() : databases.kysely()), interleave: () => placed[model][0] },
      // The shared model shares the schema model's pool: its role and tenant setting must not stay behind.
      { via: 'a TenantData serving all three models, each query first run as a shared tenant', db: () => new TenantData({ shared, schema: schemas, database: databases }).kysely(), interleave: () => sharedTenant },
    ]

    before(async () => {
      database = await backend.createDatabase()
      // The shared world too, so that TenantData serves a real shared model beside the others.
      await createFuzzWorld(database.pool)
      await createPlacedOracle(database.pool, ORACLE.schema)
      let template: Blob | undefined
      if (backend.name === 'pglite') {
        const blank = await PGlite.create()
        template = await blank.dumpDataDir('none')
        await blank.close()
      }
      models = await openModels(backend, database, { role, shared: { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE] }, ...(template ? { pgliteTemplate: async () => template } : {}) })
      shared = models.shared!
      schemas = models.schemas
      router = models.router
      databases = models.databases
      dataDir = models.dataDir
      for (const tenant of [tenantA, tenantB, tenantC]) {
        const inSchema = { ...tenant, isolation: 'schema' as const }
        placed.schema.push({ ...inSchema, placement: await schemas.provision(inSchema, placedSetup(tenant)) })
        // Database names are cluster-wide on a server: unique per run, not derived from the fixed ids.
        const inDatabase = { ...tenant, isolation: 'database' as const, placement: { database: uniqueName(`tenantry_fuzz_${tenant.slug.slice(-1)}`) } }
        placed.database.push({ ...inDatabase, placement: await databases.provision(inDatabase, placedSetup(tenant)) })
      }
      oracleDb = new Kysely({ dialect: new PostgresDialect({ pool: database.pool }) })
    })

    after(async () => {
      for (const tenant of placed.database) await databases.deprovision(tenant).catch(() => undefined)
      await models?.close()
      await dropRoles(database, [role])
      await database.close()
    })

    for (const model of MODELS) {
      for (const { via, db, interleave } of instances(model)) {
        it(`gives a ${model} tenant B exactly the oracle's answer (B's rows only) for ${RUNS} random queries through ${via}`, async (t) => {
          const [a, b, c] = placed[model] as [ScopedTenant, ScopedTenant, ScopedTenant]
          const target = { db: db(), oracleDb, oracle: ORACLE, tenant: b, foreignTenantIds: [a.id, c.id], specs: placedSpecs, label: `${model} model through ${via}` }
          await assertNoLeak(t, { ...target, interleave: interleave() })
        })
      }

      it(`catches a leak: with B's placement naming A's ${model}, the property fails`, async () => {
        const [a, b, c] = placed[model] as [ScopedTenant, ScopedTenant, ScopedTenant]
        const misplaced: ScopedTenant = { ...b, ...(a.placement ? { placement: a.placement } : {}) }
        const db = model === 'schema' ? schemas.kysely() : databases.kysely()
        await assertLeakCaught({ db, oracleDb, oracle: ORACLE, tenant: misplaced, foreignTenantIds: [a.id, c.id], specs: placedSpecs, label: `B placed in A's ${model}` })
      })
    }
  })
}
