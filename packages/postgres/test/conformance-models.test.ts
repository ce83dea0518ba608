/**
 * The conformance kit on every isolation model: shared, schema per tenant and
 * database per tenant, each through its own Kysely instance and through one
 * TenantData with A and B in the same model or in different ones; and the kit
 * catching a tenant whose placement names the other tenant's schema or database.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import {
  DatabasePerTenantIsolation,
  PoolRouter,
  SchemaPerTenantIsolation,
  SharedSchemaIsolation,
  TenantData,
  databaseFolderName,
  pgliteDatabases,
  pgliteProvisioner,
  serverDatabases,
  serverProvisioner,
} from '@tenantry/postgres'
import { checkTenantIsolation, formatConformanceFailures, type ConformanceReport, type TenantIsolationCheckOptions } from '@tenantry/postgres/testing'
import type pg from 'pg'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '../../../test/support/backends.ts'
import { openModels, type TestModels } from './support/models.ts'

const TABLES = ['projects', 'tasks', 'comments']

// The same tables in every model; the shared ones add tenant_id. Serial keys
// start at 1 in every schema and database, so placed tenants' keys collide.
const tables = (tenant: string, index: string) => `
  create table projects (
    id uuid primary key default gen_random_uuid(),${tenant} name text not null,
    budget numeric(10, 2) not null, archived boolean not null, created_at timestamptz not null default now());
  create table tasks (
    id bigserial primary key,${tenant} project_id uuid not null references projects (id) on delete cascade,
    title varchar(12) not null, priority priority not null, due date not null, points int);
  create table comments (
    id serial primary key,${tenant} task_id bigint not null references tasks (id) on delete cascade,
    body text not null, meta jsonb not null, posted_at timestamptz not null);
  ${index}`
const SHARED_SQL = `create type priority as enum ('low', 'high');
  ${tables(' tenant_id uuid not null,', 'create index on projects (tenant_id); create index on tasks (tenant_id); create index on comments (tenant_id);')}`
const PLACED_SQL = `create type priority as enum ('low', 'high'); ${tables('', '')}
  -- Only a boolean besides the key: A's and B's rows look alike.
  create table flags (id serial primary key, enabled boolean not null, code int);`

const createTables = async (client: pg.ClientBase): Promise<void> => {
  await client.query(PLACED_SQL)
}

const tenant = (slug: string, isolation: IsolationModelName): ScopedTenant => ({ id: randomUUID(), slug: `${slug}-${randomUUID().slice(0, 8)}`, status: 'active', isolation })

function failedNames(report: ConformanceReport): string[] {
  return report.failures.map((c) => `${c.name}${c.table === undefined ? '' : `[${c.table}]`}`)
}

function checkNames(report: ConformanceReport): Set<string> {
  return new Set(report.checks.map((c) => c.name))
}

const ALWAYS = ['select.by-primary-key', 'select.by-filter', 'select.schema-qualified', 'aggregate.count', 'update.by-primary-key', 'delete.by-primary-key',
  'a.rows-unchanged', 'a.sees-only-own-rows', 'reference.cross-tenant', 'join.inner:projects', 'join.left:tasks', 'join.right:tasks', 'join.full:projects',
  'subquery.exists:comments', 'subquery.scalar:tasks', 'cleanup']

/** The checks every run has, plus those of the pair's models. */
function assertCoverage(report: ConformanceReport, b: IsolationModelName, placed: boolean): void {
  const names = checkNames(report)
  for (const expected of ALWAYS) assert.ok(names.has(expected), `missing check ${expected}`)
  assert.equal(names.has('insert.foreign-tenant'), b === 'shared', 'insert.foreign-tenant runs when B has a tenant column')
  assert.equal(names.has('aggregate.group-by-tenant'), b === 'shared', 'aggregate.group-by-tenant runs when B has a tenant column')
  assert.equal(names.has('insert.own-placement'), placed, 'insert.own-placement runs when a tenant is placed')
}

for (const backend of testBackends()) {
  describe(`tenant isolation conformance kit for every isolation model on ${backend.name}`, () => {
    let database: TestDatabase
    let router: PoolRouter
    let databases: DatabasePerTenantIsolation
    let dataDir: string | undefined
    let shared: SharedSchemaIsolation
    let schemas: SchemaPerTenantIsolation
    const role = uniqueName('tenantry_app')
    let models: TestModels
    /** Two tenants of each model, placed once; the kit removes its rows after each run. */
    const placed: Record<IsolationModelName, ScopedTenant[]> = { shared: [], schema: [], database: [] }

    const provisioners = {
      shared: async (t: ScopedTenant) => ({ ...t, isolation: 'shared' as const }),
      schema: async (t: ScopedTenant) => ({ ...t, isolation: 'schema' as const, placement: await schemas.provision(t, createTables) }),
      database: async (t: ScopedTenant) => ({ ...t, isolation: 'database' as const, placement: await databases.provision(t, backend.name === 'pglite' ? undefined : createTables) }),
    }
    const deprovisioners = {
      shared: async () => {},
      schema: (t: ScopedTenant) => schemas.deprovision(t),
      database: (t: ScopedTenant) => databases.deprovision(t),
    }

    async function schemaExists(name: string): Promise<boolean> {
      const { rows } = await database.pool.query('select 1 from pg_namespace where nspname = $1', [name])
      return rows.length > 0
    }

    async function databaseExists(name: string): Promise<boolean> {
      if (dataDir !== undefined) return existsSync(join(dataDir, databaseFolderName(name)))
      const { rows } = await database.pool.query('select 1 from pg_database where datname = $1', [name])
      return rows.length > 0
    }

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(SHARED_SQL)
      let template: Blob | undefined
      if (backend.name === 'pglite') {
        const seed = await PGlite.create()
        await seed.exec(PLACED_SQL)
        template = await seed.dumpDataDir('none')
        await seed.close()
      }
      models = await openModels(backend, database, { role, shared: { tables: TABLES }, budget: 8, ...(template ? { pgliteTemplate: async () => template } : {}) })
      shared = models.shared!
      await shared.assertSafe()
      schemas = models.schemas
      router = models.router
      databases = models.databases
      dataDir = models.dataDir
      for (const model of ['shared', 'schema', 'database'] as const) {
        for (const label of ['one', 'two']) placed[model].push(await provisioners[model](tenant(`${model}-${label}`, model)))
      }
    })

    after(async () => {
      for (const t of placed.schema) await schemas.deprovision(t).catch(() => undefined)
      for (const t of placed.database) await databases.deprovision(t).catch(() => undefined)
      await models?.close()
      await dropRoles(database, [role])
      await database.close()
    })

    for (const model of ['schema', 'database'] as const) {
      it(`passes every check for the ${model} model through its own kysely(), on two tenants it provisions and drops`, async () => {
        const db = model === 'schema' ? schemas.kysely() : databases.kysely()
        const seen: ScopedTenant[] = []
        const report = await checkTenantIsolation({
          db, tables: TABLES,
          provision: async (t) => {
            const done = await provisioners[model]({ ...t, isolation: model })
            seen.push(done)
            return done
          },
          deprovision: deprovisioners[model],
        })
        assert.equal(report.passed, true, formatConformanceFailures(report))
        assertCoverage(report, model, true)
        assert.deepEqual([report.tenants.a.id, report.tenants.b.id], seen.map((t) => t.id))
        for (const t of seen) {
          const name = model === 'schema' ? t.placement?.schema : t.placement?.database
          assert.ok(name !== undefined)
          assert.equal(model === 'schema' ? await schemaExists(name) : await databaseExists(name), false, `${name} was not dropped`)
        }
      })
    }

    it('passes every check for tenants without an isolation field, given tenantColumn: null', async () => {
      const [a, b] = placed.schema.map(({ isolation: _, ...t }) => t) as [ScopedTenant, ScopedTenant]
      const report = await checkTenantIsolation({ db: schemas.kysely(), tables: TABLES, tenants: [a, b], tenantColumn: null })
      assert.equal(report.passed, true, formatConformanceFailures(report))
      assertCoverage(report, 'schema', true)
    })

    const pairs = (['shared', 'schema', 'database'] as const).flatMap((a) => (['shared', 'schema', 'database'] as const).map((b) => [a, b] as const))
    for (const [aModel, bModel] of pairs) {
      it(`keeps a ${aModel} tenant A and a ${bModel} tenant B apart through one TenantData`, async () => {
        const db = new TenantData({ shared, schema: schemas, database: databases }).kysely()
        const a = placed[aModel][0]!
        const b = placed[bModel][1]!
        const report = await checkTenantIsolation({ db, pool: database.pool, tables: TABLES, tenants: [a, b] })
        assert.equal(report.passed, true, formatConformanceFailures(report))
        assertCoverage(report, bModel, aModel !== 'shared' || bModel !== 'shared')
        const { rows } = await database.pool.query<{ n: number }>('select count(*)::int as n from public.projects')
        assert.equal(rows[0]?.n, 0, 'the shared rows are swept')
      })
    }

    // Regression: the schema model may share the runtime role with the shared model,
    // so a shared tenant's query that names a tenant schema must be refused by the
    // scoped instance itself (only the shared tables' schema may be named).
    it('keeps a schema tenant A and a shared tenant B apart when the shared model has the RLS wall only', async () => {
      const rlsOnly = new SharedSchemaIsolation(database, { tables: TABLES, runtimeRole: role, walls: { plugin: false, rls: true } })
      const db = new TenantData({ shared: rlsOnly, schema: schemas }).kysely()
      const report = await checkTenantIsolation({ db, pool: database.pool, tables: TABLES, tenants: [placed.schema[0]!, placed.shared[1]!] })
      assert.equal(report.passed, true, formatConformanceFailures(report))
    })

    /** The kit run as tenants A and B, with B's placement naming A's schema or database (a catalog gone wrong). */
    function misplaced(model: 'schema' | 'database'): Promise<ConformanceReport> {
      let aPlaced: ScopedTenant | undefined
      return checkTenantIsolation({
        db: new TenantData({ shared, schema: schemas, database: databases }).kysely(),
        tables: TABLES,
        provision: async (t, label) => {
          if (label === 'a') return (aPlaced = await provisioners[model]({ ...t, isolation: model }))
          return { ...t, isolation: model, ...(aPlaced?.placement ? { placement: aPlaced.placement } : {}) }
        },
        deprovision: async (t) => {
          if (t === aPlaced) await deprovisioners[model](t)
        },
      })
    }

    it('stops a schema tenant B whose placement names A\'s schema at the database: row-level security refuses B there', async () => {
      const report = await misplaced('schema')
      const failed = failedNames(report)
      // B's rows cannot even be written into A's schema; nothing of A's is read or changed.
      assert.deepEqual(failed, ['setup.rows[projects]'], formatConformanceFailures(report))
      assert.match(report.failures[0]?.detail ?? '', /row-level security/)
    })

    for (const model of ['database'] as const) {
      it(`reports the leaks of a ${model} tenant B whose placement names A's ${model}`, async () => {
        let aPlaced: ScopedTenant | undefined
        const report = await checkTenantIsolation({
          db: new TenantData({ shared, schema: schemas, database: databases }).kysely(),
          tables: TABLES,
          provision: async (t, label) => {
            if (label === 'a') return (aPlaced = await provisioners[model]({ ...t, isolation: model }))
            return { ...t, isolation: model, ...(aPlaced?.placement ? { placement: aPlaced.placement } : {}) }
          },
          deprovision: async (t) => {
            if (t === aPlaced) await deprovisioners[model](t)
          },
        })
        const failed = failedNames(report)
        for (const expected of ['select.by-primary-key[projects]', 'select.by-filter[tasks]', 'aggregate.count[comments]', 'join.inner:projects[tasks]',
          'subquery.scalar:comments[tasks]', 'update.by-primary-key[projects]', 'delete.by-primary-key[comments]', 'insert.own-placement[projects]',
          'a.rows-unchanged[comments]', 'a.sees-only-own-rows[projects]']) {
          assert.ok(failed.includes(expected), `expected ${expected} to fail; failed: ${failed.join(', ')}`)
        }
        assert.ok(!failed.includes('cleanup'), formatConformanceFailures(report))
      })
    }

    it('names a table whose rows cannot tell A from B without a tenant column, and passes once a sample factory sets them apart', async () => {
      const [a, b] = placed.schema as [ScopedTenant, ScopedTenant]
      const options: TenantIsolationCheckOptions = { db: schemas.kysely(), tables: ['flags'], tenants: [a, b] }
      const without = await checkTenantIsolation(options)
      assert.deepEqual(failedNames(without), ['setup.rows[flags]'])
      assert.match(without.failures[0]?.detail ?? '', /agree on every column the kit can compare.*sample\.flags/)
      const report = await checkTenantIsolation({ ...options, sample: { flags: ({ label, index }) => ({ code: (label === 'a' ? 1000 : 2000) + index }) } })
      assert.equal(report.passed, true, formatConformanceFailures(report))
    })

    it('reads the structure from the given pool and schema when told to', async () => {
      const [a, b] = placed.schema as [ScopedTenant, ScopedTenant]
      const report = await checkTenantIsolation({ db: schemas.kysely(), tables: ['projects', 'missing'], tenants: [a, b], introspect: (t) => ({ pool: database.pool, schema: t.placement!.schema! }) })
      assert.deepEqual(failedNames(report), ['setup.table[missing]'])
      assert.match(report.failures[0]?.detail ?? '', new RegExp(`no table ${a.placement!.schema}\\.missing`))
    })
  })
}
