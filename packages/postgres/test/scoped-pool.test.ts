/**
 * TenantPool: the pg.Pool every plain node-postgres user and ORM gets from
 * Tenantry. Each statement runs in the scope in force wherever the tenant is
 * placed; outside a scope nothing runs; a checked-out client serves one scope;
 * BEGIN … COMMIT on it is the scope's transaction; no session state of one
 * tenant's SQL reaches another's; inserts without tenant_id land in the current
 * tenant (the database default) and inserts naming another are refused.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { runAsSystem, runWithTenant, type IsolationModelName, type ScopedTenant } from '@tenantry/core'
import { TenantData, type TenantPool } from '@tenantry/postgres'
import pg from 'pg'
import { dropRoles, expectCode, openModels, testBackends, uniqueName, type TestDatabase, type TestModels } from '@tenantry/test-kit'

const make = (slug: string, isolation: IsolationModelName, status: ScopedTenant['status'] = 'active'): ScopedTenant => ({ id: randomUUID(), slug, status, isolation })
const ownTable = 'create table projects (id int generated always as identity primary key, name text not null)'
const sqlState = (code: string) => (error: unknown) => (error as { code?: unknown }).code === code

for (const backend of testBackends()) {
  describe(`the scoped pg.Pool (TenantPool) on ${backend.name}`, () => {
    let database: TestDatabase
    let models: TestModels
    let data: TenantData
    let pool: TenantPool
    const role = uniqueName('tenantry_app')
    const tenants: Record<string, ScopedTenant> = {}
    const all = (): ScopedTenant[] => Object.values(tenants)

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(`create table projects (tenant_id uuid not null, id int generated always as identity, name text not null, primary key (tenant_id, id))`)
      models = await openModels(backend, database, { role, shared: { tables: ['projects'] } })
      for (const [slug, model] of [['acme', 'shared'], ['hooli', 'shared'], ['globex', 'schema'], ['initech', 'database']] as const) {
        let tenant = make(slug, model)
        if (model === 'schema') tenant = { ...tenant, placement: await models.schemas.provision(tenant, async (c) => { await c.query(ownTable) }) }
        if (model === 'database') tenant = { ...tenant, placement: await models.databases.provision(tenant, async (c) => { await c.query(ownTable) }) }
        tenants[slug] = tenant
      }
      data = new TenantData({ shared: models.shared!, schema: models.schemas, database: models.databases })
      pool = data.pool()
    })

    after(async () => {
      await models.databases.deprovision(tenants.initech!).catch(() => undefined)
      await models.close()
      await dropRoles(database, [role])
      await database.close()
    })

    it('is a pg.Pool, one handle per TenantData, and refuses to run outside a scope', async () => {
      assert.ok(pool instanceof pg.Pool)
      assert.equal(data.pool(), pool)
      await assert.rejects(pool.query('select 1'), expectCode('TENANT_CONTEXT_MISSING'))
      await assert.rejects(pool.connect(), expectCode('TENANT_CONTEXT_MISSING'))
    })

    it('runs each tenant\'s statements where it is placed, and inserts without tenant_id land in the current tenant', async () => {
      for (const tenant of all()) {
        await runWithTenant(tenant, async () => {
          await pool.query('insert into projects (name) values ($1), ($2)', [`${tenant.slug}-1`, `${tenant.slug}-2`])
        })
      }
      for (const tenant of all()) {
        const { rows } = await runWithTenant(tenant, () => pool.query<{ name: string }>('select name from projects order by name'))
        assert.deepEqual(rows.map((r) => r.name), [`${tenant.slug}-1`, `${tenant.slug}-2`], tenant.slug)
      }
      const shared = await database.pool.query<{ tenant_id: string; n: number }>('select tenant_id::text, count(*)::int as n from public.projects group by 1 order by 1')
      assert.deepEqual(shared.rows.map((r) => [r.tenant_id, r.n]), [[tenants.acme!.id, 2], [tenants.hooli!.id, 2]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))))
    })

    it('refuses a shared-model insert that names another tenant, and a row with no tenant outside a tenant scope', async () => {
      await assert.rejects(runWithTenant(tenants.acme!, () => pool.query('insert into projects (tenant_id, name) values ($1, $2)', [tenants.hooli!.id, 'planted'])), sqlState('42501'))
      await assert.rejects(runAsSystem('scoped pool test', () => pool.query("insert into projects (name) values ('orphan')")), sqlState('23502'))
      assert.equal((await database.pool.query("select count(*)::int as n from projects where name in ('planted', 'orphan')")).rows[0].n, 0)
    })

    it('runs as the owner in the system scope', async () => {
      const { rows } = await runAsSystem('scoped pool test', () => pool.query<{ n: number }>('select count(*)::int as n from projects'))
      assert.equal(rows[0]!.n, 4)
    })

    it('answers with node-postgres\' result: rowMode array, fields, command and rowCount, and callbacks', async () => {
      const acme = tenants.acme!
      const result = await runWithTenant(acme, () => pool.query({ text: 'select name, 1 + $1::int as n from projects order by name', values: [1], rowMode: 'array' }))
      assert.deepEqual(result.rows, [['acme-1', 2], ['acme-2', 2]])
      assert.deepEqual(result.fields.map((f) => f.name), ['name', 'n'])
      // Type parsers of the query's own, with parameters (what Drizzle and Prisma send; PGlite's connection needed a fix).
      const types = { getTypeParser: (oid: number) => (oid === 23 ? (value: string) => `int:${value}` : pg.types.getTypeParser(oid)) }
      const parsed = await runWithTenant(acme, () => pool.query({ text: 'select $1::int as n', values: [7], types } as pg.QueryConfig))
      assert.deepEqual(parsed.rows, [{ n: 'int:7' }])
      assert.equal(result.command, 'SELECT')
      assert.equal(result.rowCount, 2)
      const updated = await runWithTenant(acme, () => pool.query("update projects set name = name where name like 'acme-%'"))
      assert.equal(updated.command, 'UPDATE')
      assert.equal(updated.rowCount, 2)
      const viaCallback = await runWithTenant(acme, () => new Promise<number>((resolve, reject) => {
        pool.query('select count(*)::int as n from projects', (error: Error | undefined, answer: pg.QueryResult) => (error ? reject(error) : resolve(answer.rows[0].n)))
      }))
      assert.equal(viaCallback, 2)
    })

    it('sends a statement with its scope\'s settings and the session reset in one round trip', async () => {
      const before = data.stats.roundTrips
      await runWithTenant(tenants.acme!, () => pool.query('select count(*) from projects'))
      await runWithTenant(tenants.globex!, () => pool.query('select count(*) from projects'))
      assert.equal(data.stats.roundTrips - before, 2)
    })

    it('keeps session state of one tenant\'s SQL from every later checkout', async () => {
      const [acme, hooli, globex] = [tenants.acme!, tenants.hooli!, tenants.globex!]
      await runWithTenant(acme, async () => {
        await pool.query("select set_config('application_name', 'acme-was-here', false)")
        await pool.query('prepare acme_statement as select 1')
        await pool.query({ name: 'shared_name', text: "select 'acme' as who" })
        await pool.query('select pg_advisory_lock(4242)')
        await pool.query('listen acme_channel')
        // PGlite logs in as a superuser: a session authorization set there must not reach the next checkout.
        if (backend.name === 'pglite') await pool.query("select set_config('session_authorization', 'postgres', false)")
      })
      for (const tenant of [hooli, globex, acme]) {
        const { rows } = await runWithTenant(tenant, () => pool.query<{ app: string; temp: string | null; prepared: number; listening: number }>(
          `select current_setting('application_name') as app, null::text as temp,
                  (select count(*)::int from pg_prepared_statements) as prepared, (select count(*)::int from pg_listening_channels()) as listening`))
        assert.deepEqual(rows[0], { app: '', temp: null, prepared: 0, listening: 0 }, tenant.slug)
        const again = await runWithTenant(tenant, () => pool.query({ name: 'shared_name', text: `select '${tenant.slug}' as who` }))
        assert.equal(again.rows[0].who, tenant.slug)
      }
      const locks = await database.pool.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4242")
      assert.equal(locks.rows[0].n, 0)
    })

    it('resets the session after a statement that failed half-way (a lock taken, then an error)', async () => {
      await assert.rejects(runWithTenant(tenants.acme!, () => pool.query('select pg_advisory_lock(4343), 1 / 0')), sqlState('22012'))
      const locks = await database.pool.query("select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4343")
      assert.equal(locks.rows[0].n, 0)
    })

    it('refuses transaction control and several statements in pool.query', async () => {
      const acme = tenants.acme!
      for (const sql of ['begin', 'commit', 'commit and chain', "prepare transaction 'x'", 'rollback']) {
        await assert.rejects(runWithTenant(acme, () => pool.query(sql)), expectCode('QUERY_REFUSED'), sql)
      }
      await assert.rejects(runWithTenant(acme, () => pool.query('select 1; select 2')), expectCode('QUERY_REFUSED'))
      // A CALL runs in a transaction block of its own: a procedure there cannot commit.
      await database.pool.query('create or replace procedure pool_commits() language plpgsql as $$ begin commit; end $$')
      await assert.rejects(runWithTenant(acme, () => pool.query('call pool_commits()')), sqlState('2D000'))
      await database.pool.query('drop procedure pool_commits()')
    })

    for (const slug of ['acme', 'globex', 'initech']) {
      it(`carries BEGIN … COMMIT / ROLLBACK on a checked-out client as the scope's transaction (${slug})`, async () => {
        const tenant = tenants[slug]!
        await runWithTenant(tenant, async () => {
          const client = await pool.connect()
          try {
            assert.equal((await client.query('begin')).command, 'BEGIN')
            await client.query("insert into projects (name) values ('rolled-back')")
            assert.equal((await client.query("select count(*)::int as n from projects where name = 'rolled-back'")).rows[0].n, 1)
            assert.equal((await client.query('rollback')).command, 'ROLLBACK')
            await client.query('START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE')
            assert.equal((await client.query('show transaction_isolation')).rows[0].transaction_isolation, 'serializable')
            await client.query("insert into projects (name) values ('kept')")
            await client.query('savepoint before_oops')
            await client.query("insert into projects (name) values ('oops')")
            await client.query('rollback to savepoint before_oops')
            assert.equal((await client.query('commit')).command, 'COMMIT')
            // BEGIN, then SET TRANSACTION before the first statement, as Prisma and pg users send it.
            await client.query('BEGIN')
            await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            assert.equal((await client.query('show transaction_isolation')).rows[0].transaction_isolation, 'repeatable read')
            await client.query('COMMIT')
            // Outside a transaction each statement is its own.
            assert.equal((await client.query('select count(*)::int as n from projects')).rows[0].n, 3)
          } finally {
            client.release()
          }
        })
        const names = await runWithTenant(tenant, () => pool.query('select name from projects order by name'))
        assert.deepEqual(names.rows.map((r) => r.name), [`${slug}-1`, `${slug}-2`, 'kept'])
        await runWithTenant(tenant, () => pool.query("delete from projects where name = 'kept'"))
      })
    }

    it('rolls back a transaction a failed statement aborted, and one left open at release', async () => {
      const acme = tenants.acme!
      await runWithTenant(acme, async () => {
        const client = await pool.connect()
        await client.query('begin')
        await client.query("insert into projects (name) values ('left-open')")
        await assert.rejects(client.query('select 1 / 0'), sqlState('22012'))
        assert.equal((await client.query('commit')).command, 'ROLLBACK')
        await client.query('begin')
        await client.query("insert into projects (name) values ('left-open')")
        client.release()
      })
      const { rows } = await runWithTenant(acme, () => pool.query("select count(*)::int as n from projects where name = 'left-open'"))
      assert.equal(rows[0].n, 0)
    })

    it('refuses a client checked out for one tenant in another scope, and transaction control it cannot carry', async () => {
      const client = await runWithTenant(tenants.acme!, () => pool.connect())
      try {
        await assert.rejects(runWithTenant(tenants.hooli!, () => client.query('select 1')), expectCode('SCOPE_MISMATCH'))
        await assert.rejects(client.query('select 1'), expectCode('SCOPE_MISMATCH'))
        await assert.rejects(runAsSystem('scoped pool test', () => client.query('select 1')), expectCode('SCOPE_MISMATCH'))
        await runWithTenant(tenants.acme!, async () => {
          await client.query('begin')
          await client.query('select 1')
          for (const sql of ['commit and chain', 'commit; begin', "prepare transaction 'p'"]) {
            await assert.rejects(client.query(sql), expectCode('QUERY_REFUSED'), sql)
          }
          await assert.rejects(client.query('begin'), expectCode('QUERY_REFUSED'))
          await client.query('rollback')
          await assert.rejects(client.query('set transaction read only'), expectCode('QUERY_REFUSED'))
        })
      } finally {
        client.release()
      }
      await assert.rejects(runWithTenant(tenants.acme!, () => client.query('select 1')), expectCode('INTERNAL'))
    })

    it('sees a statement end where PostgreSQL does: a line comment ends at \\r, and a chained COMMIT or ROLLBACK ends the client\'s transaction', async () => {
      const acme = tenants.acme!
      // A comment separates words as whitespace does: `prepare/**/transaction` is PREPARE TRANSACTION.
      for (const sql of ['-- x\rcommit and chain', '-- x\rcommit', '/* a /* nested */ b */ rollback and chain', 'begin\u00a0work',
        "prepare/**/transaction 'p'", "prepare--\ntransaction 'p'", 'start/* x */transaction read write', 'rollback/**/and/**/chain']) {
        await assert.rejects(runWithTenant(acme, () => pool.query(sql)), expectCode('QUERY_REFUSED'), JSON.stringify(sql))
      }
      await runWithTenant(acme, async () => {
        const client = await pool.connect()
        try {
          await client.query('begin')
          await client.query('savepoint s')
          await assert.rejects(client.query("prepare/* 2pc */transaction 'p'"), expectCode('QUERY_REFUSED'))
          await client.query('rollback')
        } finally {
          client.release()
        }
      })
      await runWithTenant(acme, async () => {
        const client = await pool.connect()
        try {
          await client.query('begin')
          // The transaction's first statement goes out with BEGIN: it is checked as well.
          await assert.rejects(client.query('-- x\rcommit and chain'), expectCode('QUERY_REFUSED'))
          await client.query('rollback')
          await client.query('begin')
          await client.query('select 1')
          await client.query('savepoint s')
          await client.query('rollback to savepoint s')
          await client.query('-- keep going\rselect 2')
          assert.equal((await client.query('commit')).command, 'COMMIT')
        } finally {
          client.release()
        }
      })
    })

    it('refuses DO blocks and EXPLAIN ANALYZE in a tenant scope, and runs CALL and plain EXPLAIN inside a transaction of its own', async () => {
      const acme = tenants.acme!
      for (const sql of ['do $$ begin commit; end $$', '-- c\rDO $$ begin perform 1; end $$', 'explain analyze select * from projects', 'explain (costs off, "analyze") select * from projects', 'EXPLAIN (ANALYSE true) select 1']) {
        await assert.rejects(runWithTenant(acme, () => pool.query(sql)), expectCode('QUERY_REFUSED'), sql)
      }
      const plan = await runWithTenant(acme, () => pool.query('explain (costs off) select * from projects'))
      assert.ok(plan.rows.length > 0)
      await runAsSystem('scoped pool test', () => pool.query('do $$ begin perform 1; end $$'))
    })

    it('rejects a query config it cannot send as checked, before anything is sent, and stays usable', async () => {
      const acme = tenants.acme!
      const bad = [{ text: 'select 1', name: {} }, { text: Buffer.from('select 1') }, { text: 'select 1', rowMode: 'object' }, { text: 'select 1', types: {} }, { text: 'select 1', rows: 10 }]
      for (const config of bad) {
        await assert.rejects(runWithTenant(acme, () => pool.query(config as unknown as pg.QueryConfig)), expectCode('VALIDATION_FAILED'), JSON.stringify(config))
      }
      assert.equal((await runWithTenant(acme, () => pool.query('select 1 as ok'))).rows[0].ok, 1)
    })

    it('ignores end(): the handle is shared, and an ORM disconnecting must not stop every tenant', async () => {
      await pool.end()
      assert.equal((await runWithTenant(tenants.acme!, () => pool.query('select 1 as ok'))).rows[0].ok, 1)
    })

    it('refuses a suspended tenant before taking a connection', async () => {
      const suspended = { ...tenants.acme!, status: 'suspended' as const }
      await assert.rejects(runWithTenant(suspended, () => pool.query('select 1')), expectCode('TENANT_SUSPENDED'))
    })

    it('gives doctor the tenant default: present after install(), a warning when removed', async () => {
      const shared = models.shared!
      const findings = (await shared.doctor()).findings.filter((f) => f.check === 'column.default')
      assert.deepEqual(findings, [])
      await database.pool.query('alter table projects alter column tenant_id drop default')
      const missing = (await shared.doctor()).findings.filter((f) => f.check === 'column.default')
      assert.deepEqual(missing.map((f) => [f.table, f.severity]), [['projects', 'warning']])
      await database.pool.query("alter table projects alter column tenant_id set default '00000000-0000-0000-0000-000000000000'")
      const other = (await shared.doctor()).findings.filter((f) => f.check === 'column.default')
      assert.match(other[0]?.message ?? '', /not to the scope's tenant/)
      await shared.install()
      assert.deepEqual((await shared.doctor()).findings.filter((f) => f.check === 'column.default'), [])
    })
  })
}
