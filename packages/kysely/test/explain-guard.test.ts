/**
 * EXPLAIN's format and options are written into the SQL as given by Kysely: the
 * plugin lets through only a format PostgreSQL knows and, in a tenant scope,
 * known option names with plain values. On PGlite and (with TENANTRY_PG_URL)
 * PostgreSQL.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Kysely, PostgresDialect, sql, type ExplainFormat } from 'kysely'
import { runAsSystem, runWithTenant } from '@tenantry/core'
import { expectCode, testBackends, type TestDatabase } from '@tenantry/test-kit'
import { TenantScopePlugin } from '../src/index.ts'
import { acme, tenantTables, type DB } from './support/schema.ts'
import { createTenantData } from './support/tenant-data.ts'

/** A format smuggling a query of its own: the rest of the statement, the tenant filter included, becomes a comment. */
const smuggled = 'json) select tenant_id from projects where tenant_id <> $1 --' as ExplainFormat

for (const backend of testBackends()) {
  describe(`EXPLAIN in a tenant scope on ${backend.name}`, () => {
    let database: TestDatabase
    let scoped: Kysely<DB>

    before(async () => {
      database = await backend.createDatabase()
      scoped = new Kysely<DB>({ dialect: new PostgresDialect({ pool: database.pool }), plugins: [new TenantScopePlugin({ tables: tenantTables })] })
      await createTenantData(scoped.withoutPlugins())
    })

    after(async () => {
      await database.close()
    })

    it('refuses a format that is not text, xml, json or yaml, in a tenant scope and the system scope alike', async () => {
      for (const format of [smuggled, 'json; drop table projects' as ExplainFormat, 'json, analyze' as ExplainFormat]) {
        await assert.rejects(async () => runWithTenant(acme, () => scoped.selectFrom('projects').selectAll().explain(format)), expectCode('QUERY_REFUSED', /format/))
        await assert.rejects(async () => runAsSystem('test: explain format', () => scoped.selectFrom('projects').selectAll().explain(format)), expectCode('QUERY_REFUSED', /format/))
      }
      const table = await database.pool.query(`select to_regclass('public.projects') is not null as kept`)
      assert.equal(table.rows[0].kept, true)
    })

    it('refuses options that are not known option names with plain values', async () => {
      for (const options of [
        sql`costs off) select tenant_id from projects where tenant_id <> $1 --`,
        sql`costs ${'off'}`,
        sql`costs off; select 1`,
        sql`nonsense`,
        sql`costs off, ${sql.ref('projects.tenant_id')}`,
      ]) {
        await assert.rejects(async () => runWithTenant(acme, () => scoped.selectFrom('projects').selectAll().explain('json', options)), expectCode('QUERY_REFUSED', /EXPLAIN options/))
      }
    })

    it('runs EXPLAIN with a known format in any case, and known options', async () => {
      const plan = await runWithTenant(acme, () => scoped.selectFrom('projects').selectAll().explain('JSON' as ExplainFormat, sql`costs off, verbose, ${sql.raw('summary false')}`))
      assert.equal(plan.length, 1)
      assert.ok(JSON.stringify(plan).includes('tenant_id'), 'the plan is of the scoped query')
      assert.ok(await runAsSystem('test: explain', () => scoped.selectFrom('projects').selectAll().explain('yaml', sql`analyze`)))
    })
  })
}
