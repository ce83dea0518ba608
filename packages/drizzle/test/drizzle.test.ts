/**
 * Drizzle on Tenantry's scoped pool, in every isolation model: inserts that
 * leave tenantId out land in the current tenant, one naming another tenant is
 * refused, reads and writes see the current tenant's rows only (joins and
 * relational queries too), db.transaction() commits, rolls back, nests and
 * takes its settings, and nothing runs outside a scope. Plus drizzleRunner:
 * bound parameters, and Kysely transactions through it.
 */
import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { isTenantryError, runAsSystem, runWithTenant, type ScopedTenant, type TenantryErrorCode } from '@tenantry/core'
import { kyselyOverRunner } from '@tenantry/postgres/testing'
import { expectCode, testBackends } from '@tenantry/test-kit'
import { count, eq, like, sql, TransactionRollbackError } from 'drizzle-orm'
import { getTableConfig } from 'drizzle-orm/pg-core'
import { sql as kyselySql, type Generated } from 'kysely'
import pg from 'pg'
import { drizzleRunner, tenantryDrizzle, type TenantryDrizzle } from '../src/index.ts'
import { openDrizzleFixture, projects, schema, sharedProjects, tasks, type DrizzleFixture } from './support/drizzle-fixture.ts'

/** The driver's error Drizzle wrapped (DrizzleQueryError keeps it as `cause`). */
const causeOf = (error: unknown): unknown => (error as { cause?: unknown }).cause

/** An assert.rejects predicate: a Drizzle error whose cause is a PostgreSQL error with this SQLSTATE. */
const sqlState = (code: string) => (error: unknown): boolean => {
  assert.equal((causeOf(error) as { code?: unknown } | undefined)?.code, code, String(error))
  return true
}

/** An assert.rejects predicate: a Drizzle error whose cause is a TenantryError with this code. */
const tenantryCause = (code: TenantryErrorCode) => (error: unknown): boolean => {
  assert.ok(isTenantryError(causeOf(error), code), `expected a cause with ${code}, got ${String(error)}`)
  return true
}

for (const backend of testBackends()) {
  describe(`Drizzle on Tenantry's scoped pool on ${backend.name}`, () => {
    let fixture: DrizzleFixture
    let db: TenantryDrizzle<typeof schema>
    let acme: ScopedTenant
    let hooli: ScopedTenant

    before(async () => {
      fixture = await openDrizzleFixture(backend)
      db = tenantryDrizzle(fixture.data, { schema })
      ;({ acme, hooli } = fixture.tenants)
    })

    afterEach(async () => {
      await fixture.clear()
    })

    after(async () => {
      await fixture?.close()
    })

    /** Each model's first tenant: shared, schema, database. */
    const onePerModel = (): ScopedTenant[] => [fixture.tenants.acme, fixture.tenants.globex, fixture.tenants.initech]

    it('takes what createTenantry returns, a TenantData or a TenantPool, and refuses a plain pg.Pool or a client of its own', () => {
      const pool = fixture.data.pool()
      assert.equal(db.$client, pool)
      assert.equal(tenantryDrizzle(pool).$client, pool)
      assert.equal(tenantryDrizzle(fixture.models.tenantry).$client, fixture.models.tenantry.pool)
      // Drizzle's transaction() checks out a client only from a pg.Pool.
      assert.ok(db.$client instanceof pg.Pool)
      assert.throws(() => tenantryDrizzle(fixture.database.pool as never), expectCode('VALIDATION_FAILED', /plain pg\.Pool/))
      assert.throws(() => tenantryDrizzle(fixture.data, { client: pool } as never), expectCode('VALIDATION_FAILED'))
    })

    it('refuses Drizzle\'s query cache, which keys results by SQL and parameters: the same for every tenant', () => {
      const cache = { strategy: () => 'all', get: async () => undefined, put: async () => {}, onMutate: async () => {} }
      assert.throws(() => tenantryDrizzle(fixture.data, { cache } as never), expectCode('VALIDATION_FAILED', /same for every tenant/))
    })

    it('declares tenantId() as uuid not null with no default in the DDL, and Drizzle writes default when an insert leaves it out', () => {
      const column = getTableConfig(sharedProjects).columns.find((c) => c.name === 'tenant_id')!
      assert.deepEqual([column.getSQLType(), column.notNull, column.hasDefault, column.default], ['uuid', true, true, undefined])
      assert.deepEqual(db.insert(sharedProjects).values([{ name: 'a' }, { name: 'b' }]).toSQL(), {
        sql: 'insert into "projects" ("tenant_id", "id", "name", "budget", "created_at") values (default, default, $1, default, default), (default, default, $2, default, default)',
        params: ['a', 'b'],
      })
    })

    it('puts an insert that leaves tenantId out in the current tenant, and reads it back with Drizzle\'s types', async () => {
      const [row] = await runWithTenant(acme, () => db.insert(sharedProjects).values({ name: 'Apollo', budget: '12.50' }).returning())
      assert.equal(row?.tenantId, acme.id)
      assert.equal(row?.budget, '12.50')
      assert.ok(row?.createdAt instanceof Date)
      await runWithTenant(hooli, () => db.insert(sharedProjects).values([{ name: 'Gemini' }, { name: 'Mercury' }]))
      const stored = await fixture.database.pool.query<{ tenant: string; name: string }>('select tenant_id::text as tenant, name from projects order by name')
      assert.deepEqual(stored.rows, [{ tenant: acme.id, name: 'Apollo' }, { tenant: hooli.id, name: 'Gemini' }, { tenant: hooli.id, name: 'Mercury' }])
    })

    it('refuses an insert naming another tenant (row-level security, 42501 as the error\'s cause), and a row of no tenant in a system scope', async () => {
      await assert.rejects(runWithTenant(acme, () => db.insert(sharedProjects).values({ tenantId: hooli.id, name: 'planted' })), sqlState('42501'))
      await runWithTenant(acme, () => db.insert(sharedProjects).values({ name: 'mine' }))
      await assert.rejects(runWithTenant(acme, () => db.update(sharedProjects).set({ tenantId: hooli.id })), sqlState('42501'))
      await runWithTenant(acme, () => db.delete(sharedProjects))
      await assert.rejects(runAsSystem('drizzle test', () => db.insert(sharedProjects).values({ name: 'orphan' })), sqlState('23502'))
      const { rows } = await fixture.database.pool.query<{ n: number }>('select count(*)::int as n from projects')
      assert.equal(rows[0]?.n, 0)
    })

    it('runs nothing outside a tenant scope, nor for a suspended tenant', async () => {
      await assert.rejects(db.select().from(projects), tenantryCause('TENANT_CONTEXT_MISSING'))
      await assert.rejects(db.insert(sharedProjects).values({ name: 'nobody' }), tenantryCause('TENANT_CONTEXT_MISSING'))
      // transaction() checks out a client first: its refusal is not wrapped.
      await assert.rejects(db.transaction(async (tx) => tx.select().from(projects)), expectCode('TENANT_CONTEXT_MISSING'))
      const suspended = { ...acme, status: 'suspended' as const }
      await assert.rejects(runWithTenant(suspended, () => db.select().from(projects)), tenantryCause('TENANT_SUSPENDED'))
    })

    it('selects, updates and deletes only the current tenant\'s rows, in every model, with one table definition', async () => {
      for (const tenant of fixture.all) {
        await runWithTenant(tenant, () => db.insert(projects).values([{ name: `${tenant.slug}-1` }, { name: `${tenant.slug}-2` }]))
      }
      for (const tenant of fixture.all) {
        await runWithTenant(tenant, async () => {
          const names = await db.select({ name: projects.name }).from(projects).orderBy(projects.name)
          assert.deepEqual(names.map((r) => r.name), [`${tenant.slug}-1`, `${tenant.slug}-2`], tenant.slug)
          // No WHERE: every row the tenant can see, which is its own.
          const updated = await db.update(projects).set({ budget: '1.00' }).returning({ id: projects.id })
          assert.equal(updated.length, 2, tenant.slug)
          const deleted = await db.delete(projects).where(like(projects.name, '%-1')).returning({ name: projects.name })
          assert.deepEqual(deleted.map((r) => r.name), [`${tenant.slug}-1`], tenant.slug)
        })
      }
      for (const tenant of fixture.all) {
        const rows = await runWithTenant(tenant, () => db.select({ name: projects.name, budget: projects.budget }).from(projects))
        assert.deepEqual(rows, [{ name: `${tenant.slug}-2`, budget: '1.00' }], tenant.slug)
      }
    })

    it('joins and runs relational queries over the current tenant\'s rows only, in every model', async () => {
      for (const tenant of fixture.all) {
        await runWithTenant(tenant, async () => {
          const [project] = await db.insert(projects).values({ name: `${tenant.slug}-p` }).returning({ id: projects.id })
          await db.insert(tasks).values([{ projectId: project!.id, title: `${tenant.slug}-t1` }, { projectId: project!.id, title: `${tenant.slug}-t2`, done: true }])
        })
      }
      for (const tenant of fixture.all) {
        await runWithTenant(tenant, async () => {
          const tree = await db.query.projects.findMany({ with: { tasks: { columns: { title: true }, orderBy: (t, { asc }) => [asc(t.title)] } } })
          assert.deepEqual(tree.map((p) => [p.name, p.tasks.map((t) => t.title)]), [[`${tenant.slug}-p`, [`${tenant.slug}-t1`, `${tenant.slug}-t2`]]], tenant.slug)
          const joined = await db.select({ project: projects.name, task: tasks.title }).from(tasks).leftJoin(projects, eq(tasks.projectId, projects.id)).orderBy(tasks.title)
          assert.deepEqual(joined, [{ project: `${tenant.slug}-p`, task: `${tenant.slug}-t1` }, { project: `${tenant.slug}-p`, task: `${tenant.slug}-t2` }], tenant.slug)
          const [done] = await db.select({ n: count() }).from(tasks).where(eq(tasks.done, true))
          assert.equal(done?.n, 1, tenant.slug)
          assert.equal(await db.$count(tasks), 2, tenant.slug)
        })
      }
    })

    for (const index of [0, 1, 2]) {
      it(`commits, rolls back, nests (savepoints) and sets up db.transaction() for a ${['shared', 'schema', 'database'][index]} tenant`, async () => {
        const tenant = onePerModel()[index]!
        await runWithTenant(tenant, async () => {
          await db.transaction(async (tx) => {
            await tx.insert(projects).values({ name: 'committed' })
          })
          await assert.rejects(db.transaction(async (tx) => {
            await tx.insert(projects).values({ name: 'thrown' })
            throw new Error('boom')
          }), /boom/)
          await assert.rejects(db.transaction(async (tx) => {
            await tx.insert(projects).values({ name: 'rolled-back' })
            tx.rollback()
          }), TransactionRollbackError)
          await db.transaction(async (tx) => {
            await tx.insert(projects).values({ name: 'outer' })
            await assert.rejects(tx.transaction(async (inner) => {
              await inner.insert(projects).values({ name: 'inner-rolled-back' })
              inner.rollback()
            }), TransactionRollbackError)
            await tx.transaction(async (inner) => {
              await inner.insert(projects).values({ name: 'inner-kept' })
            })
          })
          const settings = await db.transaction(
            async (tx) => (await tx.execute(sql`select current_setting('transaction_isolation') as isolation, current_setting('transaction_read_only') as read_only,
              current_setting('transaction_deferrable') as deferrable`)).rows[0],
            { isolationLevel: 'serializable', accessMode: 'read only', deferrable: true },
          )
          assert.deepEqual(settings, { isolation: 'serializable', read_only: 'on', deferrable: 'on' })
          await assert.rejects(db.transaction(async (tx) => {
            await tx.insert(projects).values({ name: 'read-only' })
          }, { accessMode: 'read only' }), sqlState('25006'))
          const repeatable = await db.transaction(async (tx) => {
            await tx.setTransaction({ isolationLevel: 'repeatable read' })
            return (await tx.execute(sql`show transaction_isolation`)).rows[0]
          })
          assert.deepEqual(repeatable, { transaction_isolation: 'repeatable read' })
          const names = await db.select({ name: projects.name }).from(projects).orderBy(projects.name)
          assert.deepEqual(names.map((r) => r.name), ['committed', 'inner-kept', 'outer'])
        })
      })
    }

    it('sends a query in one round trip, and a transaction of two statements in three', async () => {
      const { stats } = fixture.data
      let before = stats.roundTrips
      await runWithTenant(acme, () => db.select().from(projects))
      assert.equal(stats.roundTrips - before, 1)
      before = stats.roundTrips
      await runWithTenant(acme, () => db.transaction(async (tx) => {
        await tx.insert(projects).values({ name: 'one' })
        await tx.select().from(projects)
      }))
      // BEGIN + the scope's settings + the first statement; the second; COMMIT + the session reset.
      assert.equal(stats.roundTrips - before, 3)
    })

    it('runs a query runWithTenant returns unawaited in that tenant\'s scope, even inside another tenant\'s', async () => {
      await runWithTenant(acme, () => db.insert(projects).values({ name: 'acme-only' }))
      await runWithTenant(hooli, () => db.insert(projects).values({ name: 'hooli-only' }))
      const rows = await runWithTenant(acme, () => db.select({ name: projects.name }).from(projects))
      assert.deepEqual(rows, [{ name: 'acme-only' }])
      await runWithTenant(hooli, async () => {
        const switched = await runWithTenant(acme, () => db.select({ name: projects.name }).from(projects), { switch: true })
        assert.deepEqual(switched, [{ name: 'acme-only' }])
      })
    })

    it('refuses several statements in one string, and transaction control outside db.transaction()', async () => {
      await assert.rejects(runWithTenant(acme, () => db.execute(sql.raw('select 1; select 2'))), tenantryCause('QUERY_REFUSED'))
      for (const statement of ['begin', 'commit', 'rollback']) {
        await assert.rejects(runWithTenant(acme, () => db.execute(sql.raw(statement))), tenantryCause('QUERY_REFUSED'), statement)
      }
    })

    // "Rows Removed by Filter" would count the rows RLS hid: other tenants' rows.
    it('refuses EXPLAIN ANALYZE in a tenant scope, as the Kysely path does (it reports other tenants\' row counts)', async () => {
      await runWithTenant(hooli, () => db.insert(sharedProjects).values(Array.from({ length: 37 }, (_, i) => ({ name: `hooli-${i}` }))))
      const plan = await runWithTenant(acme, () => db.transaction(async (tx) => {
        await tx.execute(sql`select set_config('enable_indexscan', 'off', true), set_config('enable_bitmapscan', 'off', true)`)
        return (await tx.execute(sql`explain analyze select * from projects`)).rows.map((row) => String(row['QUERY PLAN'])).join('\n')
      })).catch((error: unknown) => error)
      assert.ok(isTenantryError(causeOf(plan), 'QUERY_REFUSED'), `EXPLAIN ANALYZE ran as acme and showed hooli's row count:\n${String(plan)}`)
    })

    describe('drizzleRunner', () => {
      it('sends the SQL with its values as bound parameters, and answers rows and rowCount', async () => {
        const logged: { query: string; params: unknown[] }[] = []
        const withLog = tenantryDrizzle(fixture.data, { logger: { logQuery: (query, params) => logged.push({ query, params }) } })
        const runner = drizzleRunner(withLog)
        const answer = await runWithTenant(acme, () => runner.query("select $1::text as v, '$2' as literal", ["o'hara"]))
        assert.deepEqual(answer.rows, [{ v: "o'hara", literal: '$2' }])
        assert.deepEqual(logged, [{ query: "select $1::text as v, '$2' as literal", params: ["o'hara"] }])
        await runWithTenant(acme, () => runner.query('insert into projects (name) values ($1), ($2)', ['a', 'b']))
        const updated = await runWithTenant(acme, () => runner.query('update projects set budget = $1', ['3.00']))
        assert.equal(updated.rowCount, 2)
      })

      it('throws the driver\'s error, not Drizzle\'s wrapper', async () => {
        const runner = drizzleRunner(db)
        await assert.rejects(runner.query('select 1', []), expectCode('TENANT_CONTEXT_MISSING'))
        await assert.rejects(runWithTenant(acme, () => runner.query('insert into projects (tenant_id, name) values ($1, $2)', [hooli.id, 'x'])), (error: unknown) => (error as { code?: unknown }).code === '42501')
      })

      it('carries Kysely\'s transactions, savepoints and transaction settings through db.transaction()', async () => {
        const k = kyselyOverRunner<{ projects: { id: Generated<number>; name: string; budget: string | null } }>(drizzleRunner(db))
        const globex = fixture.tenants.globex
        await runWithTenant(globex, async () => {
          await k.transaction().execute(async (trx) => {
            await trx.insertInto('projects').values({ name: 'k-committed' }).execute()
          })
          await assert.rejects(k.transaction().execute(async (trx) => {
            await trx.insertInto('projects').values({ name: 'k-thrown' }).execute()
            throw new Error('boom')
          }), /boom/)
          const level = await k.transaction().setIsolationLevel('serializable').setAccessMode('read only')
            .execute(async (trx) => (await kyselySql<{ level: string; ro: string }>`select current_setting('transaction_isolation') as level, current_setting('transaction_read_only') as ro`.execute(trx)).rows[0])
          assert.deepEqual(level, { level: 'serializable', ro: 'on' })
          const trx = await k.startTransaction().execute()
          await trx.insertInto('projects').values({ name: 'k-outer' }).execute()
          const inner = await trx.savepoint('before_inner').execute()
          await inner.insertInto('projects').values({ name: 'k-inner' }).execute()
          await inner.rollbackToSavepoint('before_inner').execute()
          await trx.commit().execute()
          const rows = await k.selectFrom('projects').select('name').orderBy('name').execute()
          assert.deepEqual(rows.map((r) => r.name), ['k-committed', 'k-outer'])
          const result = await k.updateTable('projects').set({ budget: '2.00' }).executeTakeFirst()
          assert.equal(result.numUpdatedRows, 2n)
        })
      })

      it('refuses a Kysely transaction over a runner without one (a plain pool)', async () => {
        const k = kyselyOverRunner(fixture.data.pool())
        await assert.rejects(runWithTenant(acme, () => k.transaction().execute(async () => undefined)), expectCode('VALIDATION_FAILED'))
        assert.throws(() => drizzleRunner({} as never), expectCode('VALIDATION_FAILED'))
      })
    })
  })
}
