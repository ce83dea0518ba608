/**
 * The walls against a tenant's own SQL and code: each class of weakness an
 * outside red team found, proven closed (or, where PostgreSQL cannot close it
 * on PGlite, proven documented), on PGlite and PostgreSQL, in every model it
 * applies to. See docs/security.md.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { currentTenant, isTenantryError, runAsSystem, runWithTenant, type IsolationModelName, type ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import { SharedSchemaIsolation, TenantData, rotateScopeKey, tenantRoleName, type DoctorReport } from '@tenantry/postgres'
import { ScopeGuard, addScopeKey, signScopeToken } from '@tenantry/postgres/internal'
import { sql, type Generated, type Kysely } from 'kysely'
import { dropRoles, testBackends, uniqueName, type TestDatabase, openModels, type TestModels } from '@tenantry/test-kit'

interface DB {
  notes: { id: Generated<string>; tenant_id: Generated<string>; body: string }
  projects: { id: Generated<number>; name: string }
}

const isCode = (code: string) => (e: unknown) => {
  assert.ok(isTenantryError(e), `expected ${code}, got ${String(e)}`)
  assert.equal(e.code, code, e.message)
  return true
}
const errorsOf = (report: DoctorReport): string[] => report.findings.filter((f) => f.severity === 'error').map((f) => f.check)
const tenant = (slug: string, isolation: IsolationModelName): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation })
const ownTable = 'create table projects (id int generated always as identity primary key, name text not null)'

for (const backend of testBackends()) {
  describe(`the walls hold against a tenant's own SQL on ${backend.name}`, () => {
    let database: TestDatabase
    let models: TestModels
    let shared: SharedSchemaIsolation
    let db: Kysely<DB>
    const role = uniqueName('tenantry_app')
    const roles = [role]
    const t: Record<string, ScopedTenant> = {}
    const other: { close(): Promise<void> }[] = []

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(`create table notes (id uuid primary key default gen_random_uuid(), tenant_id uuid not null, body text not null);
        create index on notes (tenant_id)`)
      models = await openModels(backend, database, { role, shared: { tables: ['notes'] } })
      shared = models.shared!
      for (const [slug, model] of [['a', 'shared'], ['b', 'shared'], ['sa', 'schema'], ['sb', 'schema'], ['da', 'database'], ['db', 'database']] as const) {
        let made = tenant(slug, model)
        if (model === 'schema') made = { ...made, placement: await models.schemas.provision(made, async (c) => { await c.query(ownTable) }) }
        if (model === 'database') made = { ...made, placement: await models.databases.provision(made, async (c) => { await c.query(ownTable) }) }
        t[slug] = made
      }
      db = new TenantData({ shared, schema: models.schemas, database: models.databases }).kysely<DB>()
      for (const slug of ['a', 'b']) await runWithTenant(t[slug]!, () => db.insertInto('notes').values([{ body: `${slug} one` }, { body: `${slug} two` }]).execute())
      for (const slug of ['sa', 'sb', 'da', 'db']) await runWithTenant(t[slug]!, () => db.insertInto('projects').values({ name: `${slug} project` }).execute())
    })

    after(async () => {
      for (const model of other) await model.close()
      for (const slug of ['da', 'db']) await models.databases.deprovision(t[slug]!).catch(() => undefined)
      await models.close()
      await dropRoles(database, roles)
      await database.close()
    })

    const tableOf = (slug: string): 'notes' | 'projects' => (t[slug]!.isolation === 'shared' ? 'notes' : 'projects')

    describe('1. a connection serves only the scope it was checked out for', () => {
      for (const [first, second] of [['a', 'b'], ['sa', 'sb'], ['da', 'db'], ['da', 'sa'], ['sa', 'a']] as const) {
        it(`refuses a connection pinned by ${t[first]?.isolation ?? first} tenant ${first} in ${second}'s scope, reads and writes alike`, async () => {
          const a = t[first]!
          const b = t[second]!
          await runWithTenant(a, () => db.connection().execute(async (conn) => {
            assert.ok((await conn.selectFrom(tableOf(first)).selectAll().execute()).length > 0)
            await assert.rejects(runWithTenant(b, () => conn.selectFrom(tableOf(second)).selectAll().execute(), { switch: true }), isCode('SCOPE_MISMATCH'))
            await assert.rejects(
              runWithTenant(b, () => (tableOf(second) === 'notes'
                ? conn.insertInto('notes').values({ body: 'smuggled' }).execute()
                : conn.insertInto('projects').values({ name: 'smuggled' }).execute()), { switch: true }),
              isCode('SCOPE_MISMATCH'),
            )
            await assert.rejects(runAsSystem('test: pinned connection', () => conn.selectFrom('notes').selectAll().execute()), isCode('SCOPE_MISMATCH'))
          }))
          for (const slug of [first, second]) {
            const smuggled = await runWithTenant(t[slug]!, () => (tableOf(slug) === 'notes'
              ? db.selectFrom('notes').select('body').where('body', '=', 'smuggled').execute()
              : db.selectFrom('projects').select('name').where('name', '=', 'smuggled').execute()))
            assert.deepEqual(smuggled, [])
          }
        })
      }

      it('refuses the same through each model\'s own kysely()', async () => {
        for (const [model, first, second] of [[shared.kysely<DB>(), 'a', 'b'], [models.schemas.kysely<DB>(), 'sa', 'sb'], [models.databases.kysely<DB>(), 'da', 'db']] as const) {
          await runWithTenant(t[first]!, () => model.connection().execute(async (conn) => {
            await assert.rejects(runWithTenant(t[second]!, () => conn.selectFrom(tableOf(second)).selectAll().execute(), { switch: true }), isCode('SCOPE_MISMATCH'))
          }))
        }
      })

      it('refuses a raw client used in another scope, or after its callback ended', async () => {
        const data = new TenantData({ shared, schema: models.schemas, database: models.databases })
        let kept: { query(text: string): Promise<unknown> } | undefined
        await runWithTenant(t.a!, () => data.withClient(async (client) => {
          kept = client
          await assert.rejects(runWithTenant(t.b!, () => client.query('select * from notes'), { switch: true }), isCode('SCOPE_MISMATCH'))
        }))
        await assert.rejects(runWithTenant(t.a!, () => kept!.query('select * from notes')), isCode('INTERNAL'))
      })
    })

    describe('2. objects that return tenant rows past the policy are found by doctor', () => {
      it('a definer view leaks through the builder until it is security_invoker; doctor refuses it meanwhile', async () => {
        await database.pool.query(`create view notes_view as select * from notes; grant select on notes_view to ${role}`)
        const read = () => runWithTenant(t.a!, () => db.selectFrom('notes_view' as 'notes').select('body').execute())
        // The view's owner is the test's superuser login: RLS does not apply to it.
        assert.equal((await read()).length, 4, 'a definer view owned by a superuser bypasses row-level security')
        assert.ok(errorsOf(await shared.doctor()).includes('view.definer'))
        await database.pool.query('alter view notes_view set (security_invoker = true)')
        assert.deepEqual((await read()).map((r) => r.body).sort(), ['a one', 'a two'])
        assert.ok(!errorsOf(await shared.doctor()).includes('view.definer'))
        await database.pool.query('drop view notes_view')
      })

      it('a materialized view and a definer function leak, and doctor refuses both', async () => {
        await database.pool.query(`create materialized view notes_mv as select * from notes; grant select on notes_mv to ${role};
          create function notes_all() returns setof notes language sql security definer as $$ select * from notes $$`)
        assert.equal((await runWithTenant(t.a!, () => db.selectFrom('notes_mv' as 'notes').select('body').execute())).length, 4)
        const viaFunction = await runWithTenant(t.a!, () => db.selectFrom(sql<{ body: string }>`notes_all()`.as('n')).select('n.body').execute().catch((e: unknown) => e))
        assert.ok(isTenantryError(viaFunction, 'QUERY_REFUSED'), 'the plugin refuses a raw table source; RLS alone would not stop the function')
        const viaTrusted = await runWithTenant(t.a!, () => trusted(sql<{ body: string }>`select body from notes_all()`).execute(db))
        assert.equal(viaTrusted.rows.length, 4)
        const checks = errorsOf(await shared.doctor())
        assert.ok(checks.includes('view.materialized') && checks.includes('function.definer'), checks.join(', '))
        await database.pool.query('drop materialized view notes_mv; drop function notes_all()')
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })

      it('a partition read directly is scoped like its parent', async () => {
        await database.pool.query(`create table events (id int generated always as identity, tenant_id uuid not null, what text, primary key (tenant_id, id)) partition by hash (tenant_id);
          create table events_p0 partition of events for values with (modulus 2, remainder 0);
          create table events_p1 partition of events for values with (modulus 2, remainder 1);`)
        const withEvents = new SharedSchemaIsolation(database, { tables: ['notes', 'events'], runtimeRole: role })
        other.push(withEvents)
        await withEvents.install()
        await database.pool.query(`grant select on events_p0, events_p1 to ${role}`)
        const events = withEvents.kysely<{ events: { id: Generated<number>; tenant_id: Generated<string>; what: string }; events_p0: { what: string }; events_p1: { what: string } }>()
        for (const slug of ['a', 'b']) await runWithTenant(t[slug]!, () => events.insertInto('events').values([{ what: `${slug}-1` }, { what: `${slug}-2` }, { what: `${slug}-3` }]).execute())
        for (const slug of ['a', 'b']) {
          const direct = await runWithTenant(t[slug]!, async () => [
            ...(await trusted(sql<{ what: string }>`select what from events_p0`).execute(events)).rows,
            ...(await trusted(sql<{ what: string }>`select what from events_p1`).execute(events)).rows,
          ])
          assert.deepEqual(direct.map((r) => r.what).sort(), [`${slug}-1`, `${slug}-2`, `${slug}-3`])
        }
        assert.deepEqual(errorsOf(await withEvents.doctor()), [])
      })
    })

    describe('4. SQL in a tenant statement cannot re-point the scope', () => {
      it('refuses a forged or altered scope token set by a raw fragment', async () => {
        const forged = `1.${t.b!.id}.${Math.floor(Date.now() / 1000) + 600}.${'0'.repeat(64)}`
        await assert.rejects(runWithTenant(t.a!, () => db.transaction().execute(async (trx) => {
          await trx.selectFrom('notes').select(sql<string>`set_config('tenantry.scope', ${forged}, true)`.as('x')).limit(1).execute()
          return trx.selectFrom('notes').select('body').execute()
        })), isCode('QUERY_REFUSED'))
        // A's own valid token with B's id written into it.
        await assert.rejects(runWithTenant(t.a!, () => db.transaction().execute(async (trx) => {
          await trx.selectFrom('notes')
            .select(sql<string>`set_config('tenantry.scope', replace(current_setting('tenantry.scope'), ${t.a!.id}, ${t.b!.id}), true)`.as('x'))
            .limit(1).execute()
          return trx.selectFrom('notes').select('body').execute()
        })), isCode('QUERY_REFUSED'))
        const rows = await runWithTenant(t.b!, () => db.selectFrom('notes').select('body').execute())
        assert.deepEqual(rows.map((r) => r.body).sort(), ['b one', 'b two'])
      })

      it('refuses an expired token and one signed by a retired key, and follows a key rotation', async () => {
        const withToken = (tenantOf: ScopedTenant, token: string) => runWithTenant(tenantOf, () => db.transaction().execute(async (trx) => {
          await trx.selectFrom('notes').select(sql<string>`set_config('tenantry.scope', ${token}, true)`.as('x')).limit(1).execute()
          return trx.selectFrom('notes').select('body').execute()
        }))
        const key = (await database.pool.query<{ id: number; secret: Buffer }>('select id, secret from tenantry.scope_keys where retired_at is null order by id desc limit 1')).rows[0]!
        const inAMinute = Math.floor(Date.now() / 1000) + 60
        await assert.rejects(withToken(t.a!, signScopeToken(key, t.a!.id, Math.floor(Date.now() / 1000) - 60)), isCode('QUERY_REFUSED'))
        assert.equal((await withToken(t.a!, signScopeToken(key, t.a!.id, inAMinute))).length, 2, 'a valid token of the current key works')
        // A key retired (here: one added for the test, then retired) signs nothing any more.
        const extra = await addScopeKey(database.pool)
        assert.equal((await withToken(t.a!, signScopeToken(extra, t.a!.id, inAMinute))).length, 2)
        await database.pool.query('update tenantry.scope_keys set retired_at = now() where id = $1', [extra.id])
        await assert.rejects(withToken(t.a!, signScopeToken(extra, t.a!.id, inAMinute)), isCode('QUERY_REFUSED'))
        // A routine rotation: the old key signs until its grace ends; signers move to the new one.
        await assert.rejects(rotateScopeKey(database.pool, { graceSeconds: 60 }), isCode('VALIDATION_FAILED'))
        const rotated = await rotateScopeKey(database.pool)
        assert.equal((await withToken(t.a!, signScopeToken(key, t.a!.id, inAMinute))).length, 2, 'the old key is valid during its grace')
        const guard = new ScopeGuard(database, { keyRefreshMs: 0 })
        for (let i = 0; i < 50 && (await guard.signer()).keyId !== rotated; i++) {
          ;(await guard.signer()).tokenFor(t.a!.id)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.equal((await guard.signer()).keyId, rotated)
        assert.equal((await withToken(t.b!, (await guard.signer()).tokenFor(t.b!.id))).length, 2)
      })

      it('a cleared scope sees no row at all', async () => {
        const rows = await runWithTenant(t.a!, () => db.transaction().execute(async (trx) => {
          await trx.selectFrom('notes').select(sql<string>`set_config('tenantry.scope', '', true)`.as('x')).limit(1).execute()
          return trusted(sql<{ n: number }>`select count(*)::int as n from notes`).execute(trx)
        }))
        assert.deepEqual(rows.rows, [{ n: 0 }])
      })

      it('cannot switch back to a privileged role on PostgreSQL; on PGlite (one superuser session) doctor warns', async () => {
        const login = (await database.pool.query<{ u: string }>('select session_user as u')).rows[0]!.u
        const attempt = runWithTenant(t.a!, () => db.transaction().execute(async (trx) => {
          await trx.selectFrom('notes').select(sql<string>`set_config('role', ${login}, true)`.as('x')).limit(1).execute()
          return trusted(sql<{ n: number }>`select count(*)::int as n from notes`).execute(trx)
        }))
        if (backend.name === 'postgres') {
          await assert.rejects(attempt, /permission denied to set role/)
        } else {
          assert.equal((await attempt).rows[0]?.n, 4, 'PGlite cannot stop this: documented in docs/security.md')
          assert.ok((await shared.doctor()).findings.some((f) => f.check === 'role.escape' && f.severity === 'warning'))
        }
      })

      it('leaves no session setting on the connection for the next checkout', async () => {
        // A model of its own with a one-connection pool, so the next checkout is the same connection.
        const single = uniqueName('tenantry_single')
        roles.push(single)
        const one = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole: single, runtimeLogin: backend.name === 'postgres' ? { max: 1 } : 'switch' })
        other.push(one)
        await one.install()
        const scoped = one.kysely<DB>()
        await runWithTenant(t.a!, () => scoped.selectFrom('notes').select((eb) => [
          // An aggregate's name is written into the SQL as given: it counts as SQL the plugin cannot read.
          eb.fn.agg<string>('set_config', [eb.val('statement_timeout'), eb.val('4321ms'), eb.val(false)]).as('timeout'),
        ]).execute())
        await runWithTenant(t.a!, () => scoped.selectFrom('notes').select([
          sql<string>`set_config('TimeZone', 'Pacific/Kiritimati', false)`.as('tz'),
          sql<string>`set_config('tenantry.scope', current_setting('tenantry.scope'), false)`.as('scope'),
          sql<string>`set_config('search_path', 'pg_catalog', false)`.as('path'),
        ]).limit(1).execute())
        const seen = await runWithTenant(t.b!, () => trusted(sql<{ tz: string; timeout: string; bodies: string }>`
          select current_setting('TimeZone') as tz, current_setting('statement_timeout') as timeout, (select string_agg(body, ',' order by body) from notes) as bodies`).execute(scoped))
        assert.notEqual(seen.rows[0]?.tz, 'Pacific/Kiritimati')
        assert.notEqual(seen.rows[0]?.timeout, '4321ms')
        assert.equal(seen.rows[0]?.bodies, 'b one,b two')
        const pool = await one.ready()
        const client = await pool.connect()
        try {
          const { rows } = await client.query(`select current_setting('TimeZone') as tz, coalesce(current_setting('tenantry.scope', true), '') as scope, current_setting('search_path') as path`)
          assert.notEqual(rows[0].tz, 'Pacific/Kiritimati')
          assert.equal(rows[0].scope, '')
          assert.notEqual(rows[0].path, 'pg_catalog')
        } finally {
          client.release()
        }
      })
    })

    describe('4b. what a tenant\'s SQL can leave on a connection or its login', () => {
      it('refuses a transaction opened by SQL in a statement, and rolls it back', async () => {
        await assert.rejects(runWithTenant(t.b!, () => trusted(sql`begin`).execute(db)), isCode('QUERY_REFUSED'))
        await runWithTenant(t.b!, () => db.insertInto('notes').values({ body: 'b three' }).execute())
        // Another tenant's rollback finds no transaction of B's to undo.
        await runWithTenant(t.a!, () => trusted(sql`rollback`).execute(db)).catch(() => undefined)
        const stored = await database.pool.query('select count(*)::int as n from notes where tenant_id = $1 and body = $2', [t.b!.id, 'b three'])
        assert.equal(stored.rows[0].n, 1, 'B\'s insert was committed, not held in a transaction another tenant could roll back')
        await database.pool.query('delete from notes where body = $1', ['b three'])
      })

      it('refuses statements after SQL ended the scope\'s own transaction', async () => {
        await assert.rejects(runWithTenant(t.a!, () => db.transaction().execute(async (trx) => {
          await trusted(sql`commit`).execute(trx)
          return trx.selectFrom('notes').selectAll().execute()
        })), isCode('QUERY_REFUSED'))
        const data = new TenantData({ shared, schema: models.schemas, database: models.databases })
        await assert.rejects(runWithTenant(t.a!, () => data.withClient(async (client) => {
          await client.query('commit')
          return client.query('select * from notes')
        })), isCode('QUERY_REFUSED'))
        assert.equal((await runWithTenant(t.a!, () => db.selectFrom('notes').selectAll().execute())).length, 2)
      })

      it('calls only PostgreSQL\'s own set_config in the scope\'s preamble, whatever the session\'s search_path', async () => {
        await database.pool.query(`create schema evil; create table evil.loot (name text, value text);
          create function evil.set_config(text, text, boolean) returns text language sql as $$ insert into evil.loot values ($1, $2); select pg_catalog.set_config($1, $2, $3) $$;
          grant usage on schema evil to public; grant insert on evil.loot to public; grant execute on function evil.set_config(text, text, boolean) to public`)
        try {
          const pool = await shared.ready()
          const clients = await Promise.all(Array.from({ length: backend.name === 'postgres' ? 3 : 1 }, () => pool.connect()))
          for (const client of clients) await client.query(`select pg_catalog.set_config('search_path', 'evil, pg_catalog', false)`)
          for (const client of clients) client.release()
          for (let i = 0; i < clients.length; i++) await runWithTenant(t.b!, () => db.selectFrom('notes').selectAll().execute())
          const loot = await database.pool.query('select count(*)::int as n from evil.loot')
          assert.equal(loot.rows[0].n, 0, 'no token reached a function the session\'s search_path put first')
        } finally {
          await database.pool.query('drop schema evil cascade')
        }
      })

      if (backend.name === 'postgres') {
        it('refuses a tenant\'s ALTER ROLE current_user SET …, and cleans a login whose role got session defaults some other way before any tenant uses it', async () => {
          const single = uniqueName('tenantry_single')
          roles.push(single)
          const one = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole: single, runtimeLogin: { max: 1 } })
          other.push(one)
          await one.install()
          const scoped = one.kysely<DB>()
          await assert.rejects(runWithTenant(t.a!, () => trusted(sql`alter role current_user set default_transaction_read_only = on`).execute(scoped)),
            (e: unknown) => (e as { code?: string }).code === 'QUERY_REFUSED')
          // Set by someone who may alter the role (the owner here).
          await database.pool.query(`alter role ${single} set default_transaction_read_only = on`)
          // A new login of the role: here, after the one connection is closed.
          const pool = await one.ready()
          const client = await pool.connect()
          client.release(true)
          await runWithTenant(t.b!, () => scoped.insertInto('notes').values({ body: 'b writes' }).execute())
          const settings = await database.pool.query(`select count(*)::int as n from pg_db_role_setting where setrole = $1::regrole`, [single])
          assert.equal(settings.rows[0].n, 0)
          await database.pool.query('delete from notes where body = $1', ['b writes'])
        })

        it('survives its connection being terminated mid-transaction (no tenant may do it: pg_terminate_backend is taken from PUBLIC; an operator or a failover can)', async () => {
          const pids: number[] = []
          const victim = runWithTenant(t.b!, () => db.transaction().execute(async (trx) => {
            const own = await trusted(sql<{ pid: number }>`select pg_backend_pid() as pid`).execute(trx)
            pids.push(own.rows[0]!.pid)
            await new Promise((resolve) => setTimeout(resolve, 300))
            return trx.selectFrom('notes').selectAll().execute()
          }))
          while (pids.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
          // Another tenant's SQL may not signal B's backend, though it runs as the same role.
          await assert.rejects(runWithTenant(t.a!, () => trusted(sql`select pg_terminate_backend(${pids[0]!})`).execute(db)), /permission denied/)
          await assert.rejects(runWithTenant(t.a!, () => trusted(sql`select pg_cancel_backend(${pids[0]!})`).execute(db)), /permission denied/)
          await database.pool.query('select pg_terminate_backend($1)', [pids[0]!])
          await assert.rejects(victim)
          assert.equal((await runWithTenant(t.b!, () => db.selectFrom('notes').selectAll().execute())).length, 2, 'the pool serves B again')
        })
      }

      it('gives no tenant another tenant schema\'s sequence, nor large objects', async () => {
        const sequence = `${t.sb!.placement!.schema!}.projects_id_seq`
        await assert.rejects(runWithTenant(t.sa!, () => trusted(sql`select nextval(${sequence})`).execute(db)), /permission denied/)
        await assert.rejects(runWithTenant(t.a!, () => trusted(sql`select lo_from_bytea(0, 'a secret')`).execute(db)), /permission denied/)
      })

      if (backend.name === 'postgres') {
        it('gives each database tenant a role of its own, which may connect to its own database only', async () => {
          const own = tenantRoleName(role, t.da!)
          const access = await database.pool.query<{ own: boolean; other: boolean }>(
            `select has_database_privilege($1, $2, 'CONNECT') as own, has_database_privilege($1, $3, 'CONNECT') as other`,
            [own, t.da!.placement!.database!, t.db!.placement!.database!],
          )
          assert.deepEqual(access.rows[0], { own: true, other: false })
        })
      }
    })

    describe('5. the stamp covers the SQL and the parameters', () => {
      it('refuses a compiled query whose SQL or parameters were replaced', async () => {
        const compiled = runWithTenant(t.a!, () => db.selectFrom('notes').select('body').where('body', '=', 'a one').compile())
        assert.equal((await runWithTenant(t.a!, () => db.executeQuery(compiled))).rows.length, 1)
        await assert.rejects(runWithTenant(t.a!, () => db.executeQuery({ ...compiled, sql: 'select body from notes' })), isCode('QUERY_REFUSED'))
        await assert.rejects(runWithTenant(t.a!, () => db.executeQuery({ ...compiled, parameters: ['a one', t.b!.id] })), isCode('QUERY_REFUSED'))
        assert.throws(() => {
          ;(compiled.parameters as unknown[])[0] = 'b one'
        }, TypeError)
      })
    })

    describe('6. one runtime role, yet no tenant reaches another\'s schema; the database model runs as no owner', () => {
      it('a schema tenant running a query string (query_to_xml) on another tenant\'s schema gets no row', async () => {
        const target = `select name from ${t.sb!.placement!.schema!}.projects`
        const xml = await runWithTenant(t.sa!, () => db.selectFrom('projects')
          .select(sql<string>`query_to_xml(${target}, true, false, '')::text`.as('x')).limit(1).executeTakeFirstOrThrow())
        assert.ok(!xml.x.includes('sb project'), xml.x)
        // The same from a shared tenant, and the owner sees it: the policy, not a missing table, stops it.
        const fromShared = await runWithTenant(t.a!, () => db.selectFrom('notes').select(sql<string>`query_to_xml(${target}, true, false, '')::text`.as('x')).limit(1).executeTakeFirstOrThrow())
        assert.ok(!fromShared.x.includes('sb project'))
        const owner = (await database.pool.query<{ x: string }>(`select query_to_xml($1, true, false, '')::text as x`, [target])).rows[0]!.x
        assert.ok(owner.includes('sb project'))
      })

      it('pins search_path per transaction: a session search_path left on the connection changes nothing', async () => {
        const pool = await shared.ready()
        const clients = await Promise.all(Array.from({ length: backend.name === 'postgres' ? 3 : 1 }, () => pool.connect()))
        for (const client of clients) await client.query(`select set_config('search_path', $1, false)`, [t.sb!.placement!.schema!])
        for (const client of clients) client.release()
        for (let i = 0; i < clients.length; i++) {
          const rows = await runWithTenant(t.a!, () => trusted(sql<{ path: string; n: number }>`select current_setting('search_path') as path, (select count(*)::int from notes) as n`).execute(db))
          assert.deepEqual(rows.rows, [{ path: '"public", pg_temp', n: 2 }])
        }
      })

      it('runs database tenants as the runtime role, which owns nothing and cannot drop or create', async () => {
        const who = await runWithTenant(t.da!, () => trusted(sql<{ who: string; owner: string; path: string }>`
          select current_user as who, (select tableowner from pg_tables where tablename = 'projects') as owner, current_setting('search_path') as path`).execute(db))
        assert.equal(who.rows[0]?.who, tenantRoleName(role, t.da!))
        assert.notEqual(who.rows[0]?.owner, who.rows[0]?.who)
        assert.equal(who.rows[0]?.path, '"public", pg_temp')
        await assert.rejects(runWithTenant(t.da!, () => trusted(sql`drop table projects`).execute(db)), /must be owner|permission denied/)
        await assert.rejects(runWithTenant(t.da!, () => trusted(sql`create temporary table x (a int)`).execute(db)), /permission denied/)
        assert.deepEqual(errorsOf(await models.databases.doctor({ tenants: [t.da!] })).filter((c) => c !== 'role.escape' || backend.name === 'postgres'), [])
      })
    })

    describe('7. no temporary object outlives a transaction', () => {
      for (const slug of ['a', 'sa', 'da']) {
        it(`refuses a temporary table from a trusted statement of ${t[slug]?.isolation ?? slug} tenant ${slug}, and keeps pg_temp last`, async () => {
          await assert.rejects(runWithTenant(t[slug]!, () => trusted(sql`create temporary table notes (id uuid, tenant_id uuid, body text)`).execute(db)), /permission denied to create temporary tables/)
          const path = await runWithTenant(t[slug]!, () => trusted(sql<{ path: string }>`select current_setting('search_path') as path`).execute(db))
          assert.match(path.rows[0]!.path, /, pg_temp$/)
        })
      }
    })

    describe('8. the scope\'s tenant cannot be changed to re-route queries', () => {
      it('refuses a change to the placement inside the scope, and ignores one to the caller\'s object', async () => {
        const mutable = { ...t.sa!, placement: { ...t.sa!.placement } }
        await runWithTenant(mutable, async () => {
          assert.throws(() => {
            ;(currentTenant().placement as { schema?: string }).schema = t.sb!.placement!.schema!
          }, TypeError)
          ;(mutable.placement as { schema?: string }).schema = t.sb!.placement!.schema!
          const rows = await db.selectFrom('projects').select('name').execute()
          assert.deepEqual(rows, [{ name: 'sa project' }])
        })
      })
    })

    describe('9. offboarding fences a tenant before and after its purge', () => {
      it('waits for a write admitted before the fence, purges it, and refuses writes after', async () => {
        const late = tenant('late', 'shared')
        await runWithTenant(late, () => db.insertInto('notes').values({ body: 'late one' }).execute())
        let commit!: () => void
        const held = new Promise<void>((resolve) => { commit = resolve })
        let inserted!: () => void
        const insertedOnce = new Promise<void>((resolve) => { inserted = resolve })
        const writer = runWithTenant(late, () => db.transaction().execute(async (trx) => {
          await trx.insertInto('notes').values({ body: 'late two' }).execute()
          inserted()
          await held
        }))
        await insertedOnce
        let purged = false
        const purge = shared.purge(late, { drainTimeoutMs: 20_000 }).then(() => { purged = true })
        await new Promise((resolve) => setTimeout(resolve, 300))
        assert.equal(purged, false, 'the purge waits for the transaction that began before the fence')
        commit()
        await writer
        await purge
        const left = await database.pool.query('select count(*)::int as n from notes where tenant_id = $1', [late.id])
        assert.equal(left.rows[0].n, 0)
        await assert.rejects(runWithTenant(late, () => db.insertInto('notes').values({ body: 'after' }).execute()), isCode('TENANT_SUSPENDED'))
        const stillNone = await database.pool.query('select count(*)::int as n from notes where tenant_id = $1', [late.id])
        assert.equal(stillNone.rows[0].n, 0)
      })

      if (backend.name === 'postgres') {
        it('catches a repeatable-read transaction whose snapshot predates the fence and writes after it', async () => {
          const late = tenant('late-rr', 'shared')
          let write!: () => void
          const goWrite = new Promise<void>((resolve) => { write = resolve })
          let snapshotTaken!: () => void
          const taken = new Promise<void>((resolve) => { snapshotTaken = resolve })
          const writer = runWithTenant(late, () => db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
            await trx.selectFrom('notes').select('id').execute()
            snapshotTaken()
            await goWrite
            await trx.insertInto('notes').values({ body: 'written after the fence' }).execute()
          }))
          await taken
          const purge = shared.purge(late, { drainTimeoutMs: 20_000 })
          for (;;) {
            const fenced = await database.pool.query('select 1 from tenantry.tenant_fences where tenant_id = $1', [late.id])
            if (fenced.rowCount === 1) break
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          write()
          await writer
          await purge
          const left = await database.pool.query('select count(*)::int as n from notes where tenant_id = $1', [late.id])
          assert.equal(left.rows[0].n, 0)
        })
      }
    })

    describe('11. what metadata shows', () => {
      it('refuses EXPLAIN ANALYZE in a tenant scope, and allows plain EXPLAIN', async () => {
        await assert.rejects(async () => runWithTenant(t.a!, () => db.selectFrom('notes').selectAll().explain('json', sql`analyze`)), isCode('QUERY_REFUSED'))
        const plan = await runWithTenant(t.a!, () => db.selectFrom('notes').selectAll().explain('json'))
        assert.equal(plan.length, 1)
        assert.ok(await runAsSystem('test: explain analyze', () => db.selectFrom('notes').selectAll().explain('json', sql`analyze`)))
      })

      if (backend.name === 'postgres') {
        it('shows the runtime role the SQL text of its other sessions, with values as parameters only (documented)', async () => {
          const pool = await shared.ready()
          const other = await pool.connect()
          try {
            const running = other.query(`select pg_sleep(0.5), 'secret-literal' as s`)
            await new Promise((resolve) => setTimeout(resolve, 150))
            const seen = await runWithTenant(t.a!, () => trusted(sql<{ query: string }>`select query from pg_stat_activity where pid <> pg_backend_pid() and query like '%pg_sleep%' and state = 'active'`).execute(db))
            assert.ok(seen.rows.some((r) => r.query.includes('secret-literal')), 'a literal in SQL text is visible to the same role')
            await running
            const scoped = await runWithTenant(t.b!, () => db.selectFrom('notes').select('body').where('body', '=', 'b one').compile())
            assert.ok(!scoped.sql.includes('b one'), 'Tenantry sends values as parameters')
          } finally {
            other.release()
          }
        })
      }

      it('hides other tenants\' column statistics (pg_stats), while pg_class.reltuples counts every tenant (documented)', async () => {
        await database.pool.query('analyze notes')
        const stats = await runWithTenant(t.a!, () => trusted(sql<{ n: number; tuples: number }>`
          select (select count(*)::int from pg_stats where tablename = 'notes') as n,
                 (select reltuples::int from pg_class where relname = 'notes') as tuples`).execute(db))
        assert.equal(stats.rows[0]?.n, 0)
        assert.ok((stats.rows[0]?.tuples ?? 0) > 2, 'reltuples counts every tenant\'s rows: docs/security.md says so')
      })
    })

    describe('an immediate key rotation (a leaked key)', () => {
      it('refuses the old key at once, and each model heals by re-reading the key when a query is refused', async () => {
        await rotateScopeKey(database.pool, { immediate: true })
        for (const slug of ['a', 'sa']) {
          await assert.rejects(runWithTenant(t[slug]!, () => db.selectFrom(tableOf(slug)).selectAll().execute()), isCode('QUERY_REFUSED'))
          let rows: unknown[] = []
          for (let i = 0; i < 50; i++) {
            try {
              rows = await runWithTenant(t[slug]!, () => db.selectFrom(tableOf(slug)).selectAll().execute())
              break
            } catch (error) {
              assert.ok(isTenantryError(error, 'QUERY_REFUSED'))
              await new Promise((resolve) => setTimeout(resolve, 20))
            }
          }
          assert.ok(rows.length > 0, `${slug} is served again with the new key`)
        }
      })
    })
  })
}
