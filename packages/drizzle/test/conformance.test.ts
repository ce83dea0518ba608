/**
 * The isolation conformance kit through Drizzle (drizzleRunner over
 * tenantryDrizzle): every check passes for two tenants of each model, and for
 * every pair of models through what createTenantry returns; and it fails when a
 * wall is broken on purpose (row-level security switched off on a shared table,
 * or on a tenant schema's table), where the Kysely path still holds because of
 * the query rewrite.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import { TenantData } from '@tenantry/postgres'
import { checkTenantIsolation, formatConformanceFailures, type ConformanceReport, type SqlRunner } from '@tenantry/postgres/testing'
import pg from 'pg'
import { assertConformanceCoverage, expectCode, failedCheckNames, testBackends } from '@tenantry/test-kit'
import { drizzleRunner, tenantryDrizzle } from '../src/index.ts'
import { openDrizzleFixture, TABLES, TENANTS_BY_MODEL, type DrizzleFixture, type TenantName } from './support/drizzle-fixture.ts'

const MODELS: readonly IsolationModelName[] = ['shared', 'schema', 'database']

for (const backend of testBackends()) {
  describe(`the conformance kit through Drizzle on ${backend.name}`, () => {
    let fixture: DrizzleFixture

    before(async () => {
      fixture = await openDrizzleFixture(backend)
    })

    after(async () => {
      await fixture?.close()
    })

    /** The kit run through `runner`, as the fixture's tenants A and B. */
    function check(runner: SqlRunner, a: TenantName, b: TenantName): Promise<ConformanceReport> {
      return checkTenantIsolation({ runner, pool: fixture.database.pool, tables: TABLES, tenants: [fixture.tenants[a], fixture.tenants[b]] })
    }

    for (const model of MODELS) {
      it(`passes every check for two ${model} tenants, through Drizzle on that model's pool`, async () => {
        const { models } = fixture
        const only = new TenantData(model === 'shared' ? { shared: models.shared! } : model === 'schema' ? { schema: models.schemas } : { database: models.databases })
        const [a, b] = TENANTS_BY_MODEL[model]
        const report = await check(drizzleRunner(tenantryDrizzle(only)), a, b)
        assertConformanceCoverage(report, model, model, { groupByTenant: true })
      })
    }

    for (const aModel of MODELS) {
      for (const bModel of MODELS) {
        it(`keeps a ${aModel} tenant A and a ${bModel} tenant B apart through Drizzle over what createTenantry returns`, async () => {
          const db = tenantryDrizzle(fixture.models.tenantry)
          const report = await check(drizzleRunner(db), TENANTS_BY_MODEL[aModel][0], TENANTS_BY_MODEL[bModel][1])
          assertConformanceCoverage(report, aModel, bModel, { groupByTenant: true })
          const { rows } = await fixture.database.pool.query<{ n: number }>('select count(*)::int as n from public.projects')
          assert.equal(rows[0]?.n, 0, 'the shared rows are swept')
        })
      }
    }

    it('runs through plain node-postgres too: a TenantPool is a SqlRunner as it is', async () => {
      const report = await checkTenantIsolation({ runner: fixture.data.pool(), pool: fixture.database.pool, tables: TABLES, tenants: [fixture.tenants.acme, fixture.tenants.globex] })
      assertConformanceCoverage(report, 'shared', 'schema', { groupByTenant: true })
    })

    it('takes db or runner, not both, and a runner must have query()', async () => {
      const runner = drizzleRunner(tenantryDrizzle(fixture.data))
      await assert.rejects(checkTenantIsolation({ db: fixture.data.kysely(), runner, tables: TABLES } as never), expectCode('VALIDATION_FAILED', /not both/))
      await assert.rejects(checkTenantIsolation({ runner: {} as SqlRunner, tables: TABLES }), expectCode('VALIDATION_FAILED', /SqlRunner/))
      await assert.rejects(checkTenantIsolation({ tables: TABLES } as never), expectCode('VALIDATION_FAILED', /Kysely instance/))
    })

    // Regression: with a shared A, the kit read the foreign keys from the shared
    // tables, (tenant_id, project_id), and correlated B's rows on c.tenant_id too,
    // which a placed B's tables do not have (SQLSTATE 42703). The same through Kysely.
    for (const placed of ['schema', 'database'] as const) {
      it(`correlates a composite foreign key with the tenant column without it for a ${placed} tenant B (Kysely path too)`, async () => {
        const tenants: [ScopedTenant, ScopedTenant] = [fixture.tenants.acme, fixture.tenants[TENANTS_BY_MODEL[placed][1]]]
        const report = await checkTenantIsolation({ db: fixture.data.kysely(), pool: fixture.database.pool, tables: TABLES, tenants })
        assertConformanceCoverage(report, 'shared', placed, { groupByTenant: true })
      })
    }

    it('fails when row-level security is off on a shared table: Drizzle has no second wall, the Kysely path holds by its query rewrite', async () => {
      const { database, data } = fixture
      await database.pool.query('alter table tasks disable row level security')
      try {
        const report = await check(drizzleRunner(tenantryDrizzle(data)), 'acme', 'hooli')
        assert.equal(report.passed, false)
        const failed = failedCheckNames(report)
        for (const leak of ['select.by-primary-key[tasks]', 'select.by-filter[tasks]', 'aggregate.count[tasks]', 'aggregate.group-by-tenant[tasks]',
          'join.left:projects[tasks]', 'update.by-primary-key[tasks]', 'delete.by-primary-key[tasks]', 'insert.foreign-tenant[tasks]', 'a.rows-unchanged[tasks]']) {
          assert.ok(failed.includes(leak), `${leak} should fail; failed: ${failed.join(', ')}`)
        }
        assert.deepEqual(failed.filter((name) => name.endsWith('[projects]')), [], 'projects keeps its policy')
        // A client that reports no affected-row count (a raw query API) still shows the leaking UPDATE and DELETE.
        const inner = drizzleRunner(tenantryDrizzle(data))
        const rowsOnly: SqlRunner = { query: async (text, parameters) => ({ rows: (await inner.query(text, parameters)).rows }) }
        const withoutCounts = failedCheckNames(await check(rowsOnly, 'acme', 'hooli'))
        for (const leak of ['update.by-primary-key[tasks]', 'delete.by-primary-key[tasks]']) assert.ok(withoutCounts.includes(leak), `${leak} should fail; failed: ${withoutCounts.join(', ')}`)
        const viaKysely = await checkTenantIsolation({ db: data.kysely(), pool: database.pool, tables: TABLES, tenants: [fixture.tenants.acme, fixture.tenants.hooli] })
        assert.equal(viaKysely.passed, true, formatConformanceFailures(viaKysely))
      } finally {
        await database.pool.query('alter table tasks enable row level security')
      }
      const restored = await check(drizzleRunner(tenantryDrizzle(data)), 'acme', 'hooli')
      assert.equal(restored.passed, true, formatConformanceFailures(restored))
    })

    it('fails when row-level security is off on a tenant schema\'s table: B reads it by A\'s schema-qualified name, which the Kysely path refuses', async () => {
      const { database, data, tenants } = fixture
      const table = `${pg.escapeIdentifier(tenants.globex.placement!.schema!)}.tasks`
      await database.pool.query(`alter table ${table} disable row level security`)
      try {
        const report = await check(drizzleRunner(tenantryDrizzle(data)), 'globex', 'umbrella')
        assert.deepEqual(failedCheckNames(report), ['select.schema-qualified[tasks]'], formatConformanceFailures(report))
        const viaKysely = await checkTenantIsolation({ db: data.kysely(), tables: TABLES, tenants: [tenants.globex, tenants.umbrella] })
        assert.equal(viaKysely.passed, true, formatConformanceFailures(viaKysely))
      } finally {
        await database.pool.query(`alter table ${table} enable row level security`)
      }
    })
  })
}
