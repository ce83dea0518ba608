import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely'
import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import { TenantScopePlugin, trusted } from '../src/index.ts'
import { testBackends, type TestBackend, type TestDatabase } from '@tenantry/test-kit'
import { acme, globex, tenantTables, type DB } from './support/schema.ts'
import { createTenantData, foreignTenantIds, oracleSchema, rolledBack, snapshot, tenants } from './support/tenant-data.ts'

type Query = { execute(): Promise<readonly object[]> }

function unordered(rows: readonly object[]): string[] {
  return rows.map((row) => JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))).sort()
}
type Build = (db: Kysely<DB>) => Query

for (const backend of testBackends()) {
  describe(`tenant scope at run time on ${backend.name}`, () => runtimeSuite(backend))
}

function runtimeSuite(backend: TestBackend): void {
  let database: TestDatabase | undefined
  let scoped: Kysely<DB>
  let plain: Kysely<DB>

  before(async () => {
    database = await backend.createDatabase()
    scoped = new Kysely<DB>({ dialect: new PostgresDialect({ pool: database.pool }), plugins: [new TenantScopePlugin({ tables: tenantTables })] })
    plain = scoped.withoutPlugins()
    await createTenantData(plain)
  })

  after(async () => {
    await database?.close()
  })

  /** The same query, unscoped, on the copy holding only `tenant`'s rows. */
  function oracle(tenant: ScopedTenant, build: Build): Promise<readonly object[]> {
    return plain.transaction().execute(async (trx) => {
      await sql`select set_config('search_path', ${oracleSchema(tenant)}, true)`.execute(trx)
      return build(trx).execute()
    })
  }

  /** Scoped results equal the oracle's for both tenants, hold no other tenant's row, and differ from the unscoped ones. */
  async function assertScopedRead(build: Build): Promise<void> {
    const unscoped = await build(plain).execute()
    let filteredSomething = false
    for (const tenant of tenants) {
      const rows = await runWithTenant(tenant, () => build(scoped).execute())
      assert.deepEqual(rows, await oracle(tenant, build), `${tenant.slug}'s rows`)
      assert.deepEqual(foreignTenantIds(rows, tenant), [], `only ${tenant.slug}'s rows`)
      filteredSomething ||= JSON.stringify(rows) !== JSON.stringify(unscoped)
    }
    assert.ok(filteredSomething, 'the data mixes tenants, so scoping must change the result')
  }

  /**
   * Runs a write scoped and on the oracle, each in a rolled-back transaction:
   * results and the tenant's rows afterwards must match, the other tenant's rows
   * must not change.
   */
  async function assertScopedWrite(tenant: ScopedTenant, build: (db: Kysely<DB>) => Query): Promise<void> {
    const other = tenant === acme ? globex : acme
    const before = await snapshot(plain, 'public', other)
    const scopedRun = await rolledBack(scoped, async (trx) => {
      const result = await runWithTenant(tenant, () => build(trx).execute())
      const raw = trx.withoutPlugins()
      return { result, mine: await snapshot(raw, 'public', tenant), others: await snapshot(raw, 'public', other) }
    })
    const oracleRun = await rolledBack(plain, async (trx: Transaction<DB>) => {
      await sql`select set_config('search_path', ${oracleSchema(tenant)}, true)`.execute(trx)
      const result = await build(trx).execute()
      return { result, mine: await snapshot(trx, oracleSchema(tenant), tenant) }
    })
    // RETURNING rows come in no particular order.
    assert.deepEqual(unordered(scopedRun.result), unordered(oracleRun.result), 'result')
    assert.deepEqual(scopedRun.mine, oracleRun.mine, `${tenant.slug}'s rows afterwards`)
    assert.deepEqual(scopedRun.others, before, `${other.slug}'s rows untouched`)
  }

  describe('reads', () => {
    it('returns only the tenant\'s rows from a simple select', () => assertScopedRead((db) => db.selectFrom('projects').selectAll().orderBy('id')))

    it('keeps an OR in WHERE from reaching other tenants', () =>
      assertScopedRead((db) => db.selectFrom('tasks').selectAll().where((eb) => eb('status', '=', 'done').or('project_id', '=', 1)).orderBy('id')))

    const joined = (db: Kysely<DB>) => db.selectFrom('projects as p')
    const projectTask = ['p.id', 'p.name', 'p.tenant_id as p_tenant_id', 't.id as task_id', 't.title', 't.tenant_id as t_tenant_id'] as const

    it('returns only the tenant\'s rows through an INNER JOIN', () =>
      assertScopedRead((db) => joined(db).innerJoin('tasks as t', 't.project_id', 'p.id').select(projectTask).orderBy('p.id').orderBy('t.id')))

    it('returns only the tenant\'s rows through a LEFT JOIN, keeping its unmatched rows', () =>
      assertScopedRead((db) => joined(db).leftJoin('tasks as t', 't.project_id', 'p.id').select(projectTask).orderBy('p.id').orderBy('t.id')))

    it('returns only the tenant\'s rows through a RIGHT JOIN, keeping its unmatched rows', () =>
      assertScopedRead((db) => joined(db).rightJoin('tasks as t', 't.project_id', 'p.id').select(projectTask).orderBy('t.id').orderBy('p.id')))

    it('returns only the tenant\'s rows through a FULL JOIN, keeping both sides\' unmatched rows', () =>
      assertScopedRead((db) => joined(db).fullJoin('tasks as t', 't.project_id', 'p.id').select(projectTask).orderBy('p.id').orderBy('t.id')))

    it('returns only the tenant\'s rows through a LEFT JOIN followed by a RIGHT JOIN', () =>
      assertScopedRead((db) =>
        joined(db)
          .leftJoin('tasks as t', 't.project_id', 'p.id')
          .rightJoin('comments as c', 'c.task_id', 't.id')
          .select(['p.id', 'p.tenant_id', 't.id as task_id', 't.tenant_id as t_tenant_id', 'c.id as comment_id', 'c.tenant_id as c_tenant_id'])
          .orderBy('c.id')
          .orderBy('t.id')
          .orderBy('p.id'),
      ))

    it('returns only the tenant\'s rows through chained FULL JOINs', () =>
      assertScopedRead((db) =>
        db
          .selectFrom('tasks as t')
          .fullJoin('comments as c', 'c.task_id', 't.id')
          .fullJoin('projects as p', 'p.id', 't.project_id')
          .select(['t.id', 't.tenant_id', 'c.id as comment_id', 'c.tenant_id as c_tenant_id', 'p.id as project_id', 'p.tenant_id as p_tenant_id'])
          .orderBy('t.id')
          .orderBy('c.id')
          .orderBy('p.id'),
      ))

    it('returns only the tenant\'s rows through a CROSS JOIN and a join with a global table', () =>
      assertScopedRead((db) =>
        joined(db)
          .crossJoin('tasks as t')
          .innerJoin('users as u', 'u.id', 'p.owner_id')
          .select(['p.id', 'u.name', 't.id as task_id', 't.tenant_id'])
          .orderBy('p.id')
          .orderBy('t.id'),
      ))

    it('scopes subqueries in WHERE (IN, EXISTS, NOT EXISTS) and in the select list', () =>
      assertScopedRead((db) =>
        db
          .selectFrom('projects')
          .select((eb) => [
            'id',
            'name',
            eb.selectFrom('tasks').select((e) => e.fn.countAll<string>().as('n')).whereRef('tasks.project_id', '=', 'projects.id').as('tasks'),
          ])
          .where((eb) =>
            eb.or([
              eb('id', 'in', eb.selectFrom('tasks').select('project_id').where('status', '=', 'done')),
              eb.exists(eb.selectFrom('comments').select('comments.id').whereRef('comments.task_id', '=', 'projects.id')),
              eb.not(eb.exists(eb.selectFrom('tasks').select('tasks.id').whereRef('tasks.project_id', '=', 'projects.id'))),
            ]),
          )
          .orderBy('id'),
      ))

    it('scopes a derived table, a LATERAL join and a HAVING subquery', () =>
      assertScopedRead((db) =>
        db
          .selectFrom((eb) => eb.selectFrom('projects').select(['id', 'name']).as('p'))
          .innerJoinLateral(
            (eb) => eb.selectFrom('tasks').select(['tasks.id', 'tasks.title']).whereRef('tasks.project_id', '=', 'p.id').orderBy('tasks.id', 'desc').limit(1).as('latest'),
            (join) => join.onTrue(),
          )
          .select(['p.id', 'p.name', 'latest.title'])
          .orderBy('p.id'),
      ).then(() =>
        assertScopedRead((db) =>
          db
            .selectFrom('tasks')
            .select((eb) => ['project_id', eb.fn.countAll<string>().as('n')])
            .groupBy('project_id')
            .having('project_id', 'in', (eb) => eb.selectFrom('projects').select('id'))
            .orderBy('project_id'),
        ),
      ))

    it('scopes every arm of a UNION and an INTERSECT', () =>
      assertScopedRead((db) =>
        db
          .selectFrom('projects')
          .select(['id', 'name'])
          .union((eb) => eb.selectFrom('tasks').select(['id', 'title as name']))
          .orderBy('id')
          .orderBy('name'),
      ).then(() =>
        assertScopedRead((db) =>
          db
            .selectFrom('tasks')
            .select('project_id as id')
            .intersect((eb) => eb.selectFrom('projects').select('id'))
            .orderBy('id'),
        ),
      ))

    it('scopes CTE bodies, including a CTE that shadows a tenant table name', () =>
      assertScopedRead((db) =>
        db
          .with('open_tasks', (q) => q.selectFrom('tasks').select(['id', 'project_id']).where('status', '=', 'todo'))
          .with('projects', (q) => q.selectFrom('projects').select(['id', 'name', 'tenant_id']).where('name', '<>', 'Zephyr'))
          .selectFrom('projects')
          .leftJoin('open_tasks', 'open_tasks.project_id', 'projects.id')
          .select(['projects.id', 'projects.name', 'projects.tenant_id', 'open_tasks.id as task_id'])
          .orderBy('projects.id')
          .orderBy('open_tasks.id'),
      ))

    it('scopes both terms of a WITH RECURSIVE walk', () =>
      assertScopedRead((db) =>
        db
          .withRecursive('thread(id, reply_to, tenant_id)', (q) =>
            q
              .selectFrom('comments')
              .select(['id', 'reply_to', 'tenant_id'])
              .where('id', '=', 1)
              .unionAll(q.selectFrom('comments as c').innerJoin('thread', 'thread.id', 'c.reply_to').select(['c.id', 'c.reply_to', 'c.tenant_id'])),
          )
          .selectFrom('thread')
          .selectAll()
          .orderBy('id'),
      ))
  })

  describe('writes', () => {
    for (const tenant of tenants) {
      describe(`as ${tenant.slug}`, () => {
        it('updates only the tenant\'s rows, even through an OR', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .updateTable('projects')
              .set((eb) => ({ name: eb.fn<string>('upper', ['name']) }))
              .where((eb) => eb('id', '=', 1).or('name', '=', 'Zephyr'))
              .returning(['id', 'name', 'tenant_id']),
          ))

        it('updates through UPDATE ... FROM only where both rows are the tenant\'s', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .updateTable('tasks')
              .set({ status: 'archived' })
              .from('projects')
              .whereRef('projects.id', '=', 'tasks.project_id')
              .where('projects.name', 'in', ['Apollo', 'Cosmos'])
              .returning(['tasks.id', 'tasks.tenant_id']),
          ))

        it('deletes only the tenant\'s rows', () =>
          assertScopedWrite(tenant, (db) => db.deleteFrom('tasks').where('status', '=', 'done').returning(['id', 'tenant_id'])))

        it('deletes through DELETE ... USING only where both rows are the tenant\'s', () =>
          assertScopedWrite(tenant, (db) =>
            db.deleteFrom('comments').using('tasks').whereRef('tasks.id', '=', 'comments.task_id').where('tasks.status', '=', 'todo').returning(['comments.id', 'comments.tenant_id']),
          ))

        it('inserts rows for the tenant', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .insertInto('projects')
              .values([
                { id: 10, name: 'New', code: `${tenant.slug}-10`, owner_id: null },
                { id: 11, name: 'Newer', code: null, owner_id: 2 },
              ])
              .returning(['id', 'tenant_id']),
          ))

        it('inserts the rows of an INSERT ... SELECT for the tenant, from the tenant\'s rows only', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .insertInto('tasks')
              .columns(['id', 'title', 'project_id'])
              // An untyped parameter in the select list must still be typed by its target column.
              .expression((eb) => eb.selectFrom('projects').select((e) => [sql<number>`${e.ref('id')} + ${100}`.as('id'), 'name', e.val(7).as('project_id')]))
              .returning(['id', 'title', 'project_id', 'tenant_id']),
          ))

        it('inserts the rows of an INSERT ... SELECT over a UNION for the tenant', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .insertInto('tasks')
              .columns(['id', 'title'])
              .expression((eb) =>
                eb
                  .selectFrom('projects')
                  .select((e) => [sql<number>`${e.ref('id')} + ${100}`.as('id'), 'name'])
                  .union(eb.selectFrom('comments').select((e) => [sql<number>`${e.ref('id')} + ${200}`.as('id'), 'body as name'])),
              )
              .returning(['id', 'title', 'tenant_id']),
          ))

        it('upserts the tenant\'s own conflicting row', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .insertInto('projects')
              .values({ id: 1, name: 'Renamed', code: null, owner_id: null })
              .onConflict((oc) => oc.columns(['tenant_id', 'id']).doUpdateSet((eb) => ({ name: eb.ref('excluded.name') })))
              .returning(['id', 'name', 'tenant_id']),
          ))

        it('scopes a data-modifying CTE', () =>
          assertScopedWrite(tenant, (db) =>
            db
              .with('gone', (q) => q.deleteFrom('comments').where('reply_to', 'is not', null).returning(['id', 'task_id']))
              .selectFrom('gone')
              .innerJoin('tasks', 'tasks.id', 'gone.task_id')
              .select(['gone.id', 'tasks.title'])
              .orderBy('gone.id'),
          ))
      })
    }

    it('never updates another tenant\'s row through an ON CONFLICT on a global unique key', async () => {
      const outcome = await rolledBack(scoped, async (trx) => {
        // B-2 is globex's code: the conflict is found, and the update is filtered away.
        const rows = await runWithTenant(acme, () =>
          trx
            .insertInto('projects')
            .values({ id: 20, name: 'Hijack', code: 'B-2', owner_id: null })
            .onConflict((oc) => oc.column('code').doUpdateSet({ name: 'Hijacked' }))
            .returning(['id'])
            .execute(),
        )
        const { rows: zephyr } = await sql`select tenant_id, name from projects where code = 'B-2'`.execute(trx.withoutPlugins())
        return { rows, zephyr }
      })
      assert.deepEqual(outcome.rows, [])
      assert.deepEqual(outcome.zephyr, [{ tenant_id: globex.id, name: 'Zephyr' }])
    })

    it('turns DEFAULT VALUES into a row of the tenant', async () => {
      const row = await rolledBack(scoped, (trx) =>
        runWithTenant(globex, () => trx.insertInto('comments').defaultValues().returning(['tenant_id', 'body']).executeTakeFirstOrThrow()),
      )
      assert.deepEqual(row, { tenant_id: globex.id, body: '' })
    })

    it('rejects an insert whose tenant_id names another tenant, and writes nothing', async () => {
      await assert.rejects(
        runWithTenant(acme, () => scoped.insertInto('projects').values({ id: 30, name: 'x', code: null, owner_id: null, tenant_id: globex.id }).execute()),
        { code: 'TENANT_MISMATCH' },
      )
      const { rows } = await sql`select count(*)::int as n from projects where id = 30`.execute(plain)
      assert.deepEqual(rows, [{ n: 0 }])
    })

    it('refuses raw SQL and tenant_id updates at run time, and runs trusted raw SQL', async () => {
      await assert.rejects(runWithTenant(acme, () => sql`delete from projects`.execute(scoped)), { code: 'QUERY_REFUSED' })
      await assert.rejects(runWithTenant(acme, () => scoped.updateTable('projects').set({ tenant_id: globex.id }).execute()), { code: 'QUERY_REFUSED' })
      const count = trusted(sql<{ n: number }>`select count(*)::int as n from projects where tenant_id = ${acme.id}`)
      const { rows } = await runWithTenant(acme, () => count.execute(scoped))
      assert.deepEqual(rows, [{ n: 3 }])
    })
  })
}
