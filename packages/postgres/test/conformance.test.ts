import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { Kysely, PostgresDialect } from 'kysely'
import { SharedSchemaIsolation, type SharedWalls } from '@tenantry/postgres'
import { assertTenantIsolation, checkTenantIsolation, formatConformanceFailures, type ConformanceReport } from '@tenantry/postgres/testing'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'

const TABLES = ['projects', 'tasks', 'comments']

// Keys of several kinds (uuid default, bigserial, serial), an enum, a varchar limit,
// numeric, dates, jsonb, and foreign keys three levels deep.
const schemaSql = `
  create type priority as enum ('low', 'high');
  create table projects (
    id uuid primary key default gen_random_uuid(), tenant_id uuid not null, name text not null,
    budget numeric(10, 2) not null, archived boolean not null, created_at timestamptz not null default now());
  create index projects_tenant on projects (tenant_id);
  create table tasks (
    id bigserial primary key, tenant_id uuid not null, project_id uuid not null references projects (id) on delete cascade,
    title varchar(12) not null, priority priority not null, due date not null, points int);
  create index tasks_tenant on tasks (tenant_id);
  create table comments (
    id serial primary key, tenant_id uuid not null, task_id bigint not null references tasks (id) on delete cascade,
    body text not null, meta jsonb not null, posted_at timestamptz not null);
  create index comments_tenant on comments (tenant_id);
  -- No RLS: the negative test puts it behind RLS-only walls.
  create table notes (id int generated always as identity primary key, tenant_id uuid not null, body text not null);
  -- RLS plus a second, permissive policy that lets every row through.
  create table memos (id serial primary key, tenant_id uuid not null, body text not null);
  -- A CHECK constraint and a type the kit cannot fill by itself.
  create table checklists (
    id serial primary key, tenant_id uuid not null, state text not null check (state in ('todo', 'done')), spot point not null);`

const wallCases: { name: string; walls: SharedWalls }[] = [
  { name: 'both walls (plugin and RLS)', walls: { plugin: true, rls: true } },
  { name: 'the plugin wall only', walls: { plugin: true, rls: false } },
  { name: 'the RLS wall only', walls: { plugin: false, rls: true } },
]

function failedNames(report: ConformanceReport): string[] {
  return report.failures.map((c) => `${c.name}${c.table === undefined ? '' : `[${c.table}]`}`)
}

for (const backend of testBackends()) {
  describe(`tenant isolation conformance kit on ${backend.name}`, () => {
    let database: TestDatabase
    const role = uniqueName('tenantry_app')
    // The plugin alone, on tables that have RLS: its role bypasses RLS, so only the plugin stands between tenants.
    const pluginRole = uniqueName('tenantry_plugin_only')

    const isolation = (tables: string[], walls: SharedWalls) => new SharedSchemaIsolation(database, { tables, runtimeRole: walls.rls ? role : pluginRole, walls })

    async function rowCount(table: string): Promise<number> {
      const { rows } = await database.pool.query<{ n: string }>(`select count(*) as n from ${table}`)
      return Number(rows[0]?.n)
    }

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(schemaSql)
      await isolation([...TABLES, 'memos', 'checklists'], { plugin: true, rls: true }).install()
      await isolation([...TABLES, 'memos', 'checklists'], { plugin: true, rls: false }).install()
      await database.pool.query(`alter role ${pluginRole} bypassrls`)
      await database.pool.query(`create policy everyone on memos as permissive for all to public using (true) with check (true)`)
      await database.pool.query(`grant select, insert, update, delete on notes to ${role}`)
    })

    after(async () => {
      await dropRoles(database, [role, pluginRole])
      await database.close()
    })

    for (const { name, walls } of wallCases) {
      it(`passes every check with ${name}, and leaves no rows behind`, async () => {
        const shared = isolation(TABLES, walls)
        const report = await checkTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: TABLES })
        assert.equal(report.passed, true, formatConformanceFailures(report))
        const names = new Set(report.checks.map((c) => c.name))
        for (const expected of ['select.by-primary-key', 'select.by-filter', 'aggregate.count', 'aggregate.group-by-tenant', 'update.by-primary-key',
          'delete.by-primary-key', 'insert.foreign-tenant', 'a.rows-unchanged', 'a.sees-only-own-rows', 'reference.cross-tenant',
          'join.inner:projects', 'join.left:tasks', 'join.right:tasks', 'join.full:projects', 'subquery.exists:comments', 'subquery.scalar:tasks', 'cleanup']) {
          assert.ok(names.has(expected), `missing check ${expected}`)
        }
        for (const table of TABLES) assert.equal(await rowCount(table), 0, `${table} still holds rows`)
      })
    }

    it('reports the leaks of a table without row-level security behind RLS-only walls', async () => {
      const shared = isolation(['notes'], { plugin: false, rls: true })
      const report = await checkTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: ['notes'] })
      assert.equal(report.passed, false)
      const failed = failedNames(report)
      for (const expected of ['select.by-primary-key[notes]', 'select.by-filter[notes]', 'aggregate.count[notes]', 'update.by-primary-key[notes]',
        'delete.by-primary-key[notes]', 'insert.foreign-tenant[notes]', 'a.rows-unchanged[notes]', 'a.sees-only-own-rows[notes]']) {
        assert.ok(failed.includes(expected), `expected ${expected} to fail; failed: ${failed.join(', ')}`)
      }
      assert.equal(await rowCount('notes'), 0, 'the kit cleans up after a leak too')
    })

    it('reports the leaks of a permissive policy that lets every row through', async () => {
      const shared = isolation(['memos'], { plugin: false, rls: true })
      const report = await checkTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: ['memos'] })
      assert.ok(failedNames(report).includes('select.by-primary-key[memos]'), formatConformanceFailures(report))
      assert.ok(failedNames(report).includes('aggregate.group-by-tenant[memos]'))
    })

    it('finds no leak in the same permissive-policy table when the plugin wall is up too', async () => {
      const shared = isolation(['memos'], { plugin: true, rls: true })
      const report = await checkTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: ['memos'] })
      assert.equal(report.passed, true, formatConformanceFailures(report))
    })

    it('reports the join and subquery leaks of a Kysely instance with no tenant wall at all', async () => {
      const unscoped = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: database.pool }) })
      const report = await checkTenantIsolation({ db: unscoped, pool: database.pool, tables: TABLES })
      const failed = failedNames(report)
      for (const expected of ['join.inner:projects[tasks]', 'join.left:projects[tasks]', 'join.right:tasks[comments]', 'join.full:tasks[comments]',
        'subquery.exists:tasks[projects]', 'subquery.scalar:comments[tasks]', 'insert.foreign-tenant[comments]', 'aggregate.group-by-tenant[projects]']) {
        assert.ok(failed.includes(expected), `expected ${expected} to fail; failed: ${failed.join(', ')}`)
      }
      for (const table of TABLES) assert.equal(await rowCount(table), 0, `${table} still holds rows`)
    })

    it('throws ISOLATION_MISCONFIGURED from assertTenantIsolation with a readable list of the failed checks', async () => {
      const shared = isolation(['notes'], { plugin: false, rls: true })
      await assert.rejects(assertTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: ['notes'] }), (error: unknown) => {
        assert.ok(isTenantryError(error, 'ISOLATION_MISCONFIGURED'))
        assert.match(error.message, /tenant isolation checks failed:\n {2}✗ select\.by-primary-key \[notes\]: B selected 2 row\(s\) by A's keys/)
        return true
      })
    })

    it('names the columns it cannot fill, and passes once a sample factory fills them', async () => {
      const shared = isolation(['checklists'], { plugin: true, rls: true })
      const options = { db: shared.kysely(), pool: database.pool, tables: ['checklists'] }
      const without = await checkTenantIsolation(options)
      assert.deepEqual(failedNames(without), ['setup.rows[checklists]'])
      assert.match(without.failures[0]?.detail ?? '', /spot \(point\).*sample\.checklists/)
      const report = await checkTenantIsolation({ ...options, sample: { checklists: ({ index }) => ({ state: index % 2 ? 'done' : 'todo', spot: '(1,2)' }) } })
      assert.equal(report.passed, true, formatConformanceFailures(report))
    })

    it('reports a missing table or tenant column before writing anything', async () => {
      const shared = isolation(['projects'], { plugin: true, rls: true })
      const report = await checkTenantIsolation({ db: shared.kysely(), pool: database.pool, tables: ['projects', 'nowhere'], tenantColumn: 'org_id' })
      assert.deepEqual(failedNames(report), ['setup.table[nowhere]', 'setup.tenant-column[projects]'])
    })
  })
}
