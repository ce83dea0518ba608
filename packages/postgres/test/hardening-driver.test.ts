/**
 * The driver against what a tenant's SQL can leave on a pooled connection, or
 * on the runtime login, for the next tenant: each class a red team found,
 * proven closed on PGlite and PostgreSQL. Login defaults exist only where
 * there are logins (PostgreSQL); PGlite is one session. See docs/security.md.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import { SharedSchemaIsolation, TenantData, serverDatabases } from '@tenantry/postgres'
import { dropRoles, expectCode, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { sql, type Generated, type Kysely } from 'kysely'
import { createTenantry } from 'tenantry'

interface DB {
  notes: { id: Generated<string>; tenant_id: Generated<string>; body: string }
  hardening_marks: { mark: string }
}

const tenant = (slug: string): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation: 'shared' })

/** Collects the process warnings emitted while `fn` runs. */
async function warningsDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = []
  const listener = (warning: Error): void => {
    seen.push(`${warning.name}: ${warning.message}`)
  }
  process.on('warning', listener)
  try {
    await fn()
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  return seen
}

for (const backend of testBackends()) {
  describe(`the driver leaves nothing of one tenant's SQL to the next on ${backend.name}`, () => {
    let database: TestDatabase
    let shared: SharedSchemaIsolation
    let db: Kysely<DB>
    let data: TenantData
    const role = uniqueName('tenantry_hard')
    const roles = [role]
    const a = tenant('a')
    const b = tenant('b')
    const models: { close(): Promise<void> }[] = []

    /** A model of its own whose pool holds one connection, so the next checkout is the same connection. */
    const oneConnection = async (runtimeRole: string): Promise<SharedSchemaIsolation> => {
      const model = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole, runtimeLogin: backend.name === 'postgres' ? { max: 1 } : 'switch' })
      models.push(model)
      await model.install()
      await database.pool.query(`grant select, insert on hardening_marks to ${runtimeRole}`)
      return model
    }
    const marks = async (): Promise<string[]> => (await database.pool.query<{ mark: string }>('select mark from hardening_marks order by mark')).rows.map((r) => r.mark)

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(`create table notes (id uuid primary key default gen_random_uuid(), tenant_id uuid not null, body text not null);
        create index on notes (tenant_id);
        create table hardening_marks (mark text not null)`)
      shared = await oneConnection(role)
      db = shared.kysely<DB>()
      data = new TenantData({ shared })
      for (const t of [a, b]) await runWithTenant(t, () => db.insertInto('notes').values([{ body: `${t.slug} one` }, { body: `${t.slug} two` }]).execute())
    })

    after(async () => {
      for (const model of models) await model.close()
      await dropRoles(database, roles)
      await database.close()
    })

    describe('N1. prepared statements do not outlive the checkout', () => {
      it('a statement one tenant PREPAREd cannot be EXECUTEd by the next tenant on the same connection', async () => {
        await runWithTenant(a, () => data.withClient((client) => client.query('prepare tenantry_left_by_a as select body from notes')))
        await runWithTenant(a, () => trusted(sql`prepare tenantry_left_by_a_builder as select body from notes`).execute(db))
        for (const name of ['tenantry_left_by_a', 'tenantry_left_by_a_builder']) {
          await assert.rejects(
            runWithTenant(b, () => data.withClient((client) => client.query(`execute ${name}`))),
            (error: unknown) => (error as { code?: string }).code === '26000',
            `${name} is gone ("prepared statement does not exist")`,
          )
          await assert.rejects(runWithTenant(b, () => trusted(sql`execute ${sql.raw(name)}`).execute(db)), (error: unknown) => (error as { code?: string }).code === '26000')
        }
      })

      it('a named node-postgres statement re-PREPAREd by one tenant does not run under the next tenant\'s query of that name', async () => {
        const text = 'select body from notes order by body'
        await runWithTenant(a, () => data.withClient(async (client) => {
          await client.query({ name: 'notes_by_body', text })
          // node-postgres still believes "notes_by_body" is `text`; on the server it is now A's statement.
          await client.query('deallocate notes_by_body')
          await client.query(`prepare notes_by_body as select 'planted by a'::text as body`)
        }))
        const seen = await runWithTenant(b, () => data.withClient((client) => client.query<{ body: string }>({ name: 'notes_by_body', text })))
        assert.deepEqual(seen.rows.map((r) => r.body), ['b one', 'b two'])
      })

      it('a statement name one tenant used is free for the next tenant, whatever its text', async () => {
        await runWithTenant(a, () => data.withClient((client) => client.query({ name: 'notes_count', text: 'select count(*)::int as n from notes' })))
        const seen = await runWithTenant(b, () => data.withClient((client) =>
          client.query<{ body: string }>({ name: 'notes_count', text: 'select body from notes where body like $1 order by body', values: ['b%'] })))
        assert.deepEqual(seen.rows.map((r) => r.body), ['b one', 'b two'])
      })
    })

    describe('N7 and (a). SQL cannot end the scope\'s transaction and go on without it', () => {
      it('refuses `commit; begin; …` in one string inside a transaction, and nothing after the commit runs', async () => {
        for (const text of [
          `select 1; commit; begin; insert into hardening_marks (mark) values ('after commit')`,
          `commit; begin; insert into hardening_marks (mark) values ('after leading commit')`,
        ]) {
          await assert.rejects(runWithTenant(a, () => db.transaction().execute(async (trx) => {
            await trx.insertInto('notes').values({ body: 'a in the transaction' }).execute()
            await trusted(sql.raw(text)).execute(trx)
          })), expectCode('QUERY_REFUSED'))
        }
        assert.deepEqual(await marks(), [])
        const kept = await database.pool.query('select count(*)::int as n from notes where body = $1', ['a in the transaction'])
        assert.equal(kept.rows[0].n, 0, 'the scope\'s own transaction was rolled back, not committed by the SQL')
      })

      it('never runs a statement after `commit; begin` without the scope (its role, its token)', async () => {
        const outcome = await runWithTenant(a, () => db.transaction().execute((trx) =>
          trusted(sql`commit; begin; insert into hardening_marks (mark) select current_user || ' with scope "' || coalesce(current_setting('tenantry.scope', true), '') || '"'`)
            .execute(trx))).then(() => 'ran', (error: unknown) => error)
        const left = await marks()
        assert.deepEqual(left, [], `after the commit, SQL ran as ${left.join(', ')}`)
        assert.ok(isTenantryError(outcome, 'QUERY_REFUSED'), String(outcome))
      })

      it('refuses `commit and chain` (the transaction ends and the next begins at once)', async () => {
        await assert.rejects(runWithTenant(a, () => db.transaction().execute(async (trx) => {
          await trusted(sql`commit and chain`).execute(trx)
        })), expectCode('QUERY_REFUSED', /COMMIT in SQL is refused/))
        await assert.rejects(runWithTenant(a, () => data.withClient(async (client) => {
          await client.query('/* chained */ COMMIT AND CHAIN')
        })), expectCode('QUERY_REFUSED', /COMMIT in SQL is refused/))
      })

      it('refuses commit, rollback and begin on a withClient() client before they reach the database', async () => {
        for (const command of ['commit', 'end', 'rollback', 'rollback and chain', 'abort', 'begin', '-- a comment\nstart transaction', `; prepare transaction 'tx'`]) {
          await assert.rejects(runWithTenant(b, () => data.withClient(async (client) => {
            await client.query(`insert into hardening_marks (mark) values ('before ${command.replace(/'/g, '')}')`)
            await client.query(command)
          })), expectCode('QUERY_REFUSED', /in SQL is refused: the scope's settings hold only inside the transaction/), command)
        }
        assert.deepEqual(await marks(), [], 'each withClient() transaction was rolled back, none committed by the SQL')
        // Savepoints stay inside the transaction and its settings.
        const rows = await runWithTenant(b, () => data.withClient(async (client) => {
          await client.query('savepoint s')
          await client.query(`insert into hardening_marks (mark) values ('rolled back to s')`)
          await client.query('rollback to savepoint s')
          await client.query('release savepoint s')
          return (await client.query<{ body: string }>('select body from notes order by body')).rows
        }))
        assert.deepEqual(rows.map((r) => r.body), ['b one', 'b two'])
        assert.deepEqual(await marks(), [])
      })

      it('refuses a CALL outside a transaction, where a procedure could COMMIT and run on without the scope', async () => {
        await database.pool.query(`create procedure hardening_committing() language plpgsql as $$ begin
            commit;
            insert into hardening_marks (mark) select current_user || ' after the procedure committed, scope "' || coalesce(current_setting('tenantry.scope', true), '') || '"';
          end $$;
          grant execute on procedure hardening_committing() to public`)
        try {
          await assert.rejects(runWithTenant(a, () => trusted(sql`call hardening_committing()`).execute(db)), expectCode('QUERY_REFUSED', /CALL outside a transaction/))
          // Inside a transaction block a procedure cannot commit: PostgreSQL refuses it.
          await assert.rejects(runWithTenant(a, () => db.transaction().execute((trx) => trusted(sql`call hardening_committing()`).execute(trx))), /invalid transaction termination/)
          assert.deepEqual(await marks(), [])
        } finally {
          await database.pool.query('drop procedure hardening_committing()')
        }
      })

      it('refuses several statements in one withClient() query, and queries sent together run one at a time, each checked', async () => {
        await assert.rejects(runWithTenant(b, () => data.withClient((client) =>
          client.query(`select 1; commit; begin; insert into hardening_marks (mark) values ('smuggled')`))), expectCode('QUERY_REFUSED', /one statement per query/))
        await assert.rejects(runWithTenant(b, () => data.withClient((client) => Promise.all([
          client.query('commit'),
          client.query(`insert into hardening_marks (mark) values ('sent together')`),
        ]))), expectCode('QUERY_REFUSED'))
        assert.deepEqual(await marks(), [])
      })
    })

    if (backend.name === 'postgres') {
      describe('N2. a connection whose login brought session defaults serves no tenant', () => {
        it('checks what the connection itself started with, not only the catalog (defaults removed after the login)', async () => {
          const own = uniqueName('tenantry_race')
          roles.push(own)
          const model = await oneConnection(own)
          const scoped = model.kysely<DB>()
          const pool = await model.ready()
          ;(await pool.connect()).release(true)
          await database.pool.query(`alter role ${own} set "TimeZone" = 'Pacific/Kiritimati'`)
          const raced = await pool.connect()   // logs in with the default...
          await database.pool.query(`alter role ${own} reset all`)   // ...gone from the catalog before its first checkout
          raced.release()
          let seen: string | undefined
          const warnings = await warningsDuring(async () => {
            seen = (await runWithTenant(b, () => trusted(sql<{ tz: string }>`select current_setting('TimeZone') as tz`).execute(scoped))).rows[0]?.tz
          })
          assert.notEqual(seen, 'Pacific/Kiritimati')
          assert.ok(warnings.some((w) => /TenantryRuntimeLoginWarning.*TimeZone \(user\)/.test(w)), warnings.join('\n'))
        })

        it('refuses a database default that would re-point the scope or the role (ALTER DATABASE … SET), naming the fix', async () => {
          const own = uniqueName('tenantry_dbset')
          roles.push(own)
          const model = await oneConnection(own)
          const scoped = model.kysely<DB>()
          const pool = await model.ready()
          const name = (await database.pool.query<{ d: string }>('select current_database() as d')).rows[0]!.d
          await database.pool.query(`alter database ${name} set tenantry.scope = 'forged'`)
          try {
            ;(await pool.connect()).release(true)
            await assert.rejects(runWithTenant(b, () => scoped.selectFrom('notes').selectAll().execute()),
              expectCode('ISOLATION_MISCONFIGURED', /tenantry\.scope.*alter database <this database> reset tenantry\.scope/))
          } finally {
            await database.pool.query(`alter database ${name} reset tenantry.scope`)
          }
          assert.equal((await runWithTenant(b, () => scoped.selectFrom('notes').selectAll().execute())).length, 2)
        })
      })

      describe('N3. a default that fails every login of the runtime role is removed', () => {
        it('lets no tenant SQL set a default for the runtime role (ALTER ROLE, or one run by a DO block\'s EXECUTE), and heals a login a default set otherwise locked out, with a warning', async () => {
          const own = uniqueName('tenantry_locked')
          roles.push(own)
          const model = await oneConnection(own)
          const scoped = model.kysely<DB>()
          const pool = await model.ready()
          for (const attempt of [
            sql`alter role current_user set local_preload_libraries = 'tenantry_missing_library'`,
            sql`do $$ begin execute format('alter role current_user in database %I set local_preload_libraries = %L', current_database(), 'tenantry_missing_library'); end $$`,
          ]) {
            await assert.rejects(runWithTenant(a, () => scoped.transaction().execute((trx) => trusted(attempt).execute(trx))), expectCode('QUERY_REFUSED'))
          }
          assert.equal((await database.pool.query('select count(*)::int as n from pg_db_role_setting where setrole = $1::regrole', [own])).rows[0].n, 0)
          // A default set some other way (by someone who may alter the role) is still healed at the next checkout.
          for (const [where, setting] of [
            ['for the role', `alter role ${own} set local_preload_libraries = 'tenantry_missing_library'`],
            ['in this database', `do $$ begin execute format('alter role ${own} in database %I set local_preload_libraries = %L', current_database(), 'tenantry_missing_library'); end $$`],
          ] as const) {
            await database.pool.query(setting)
            ;(await pool.connect()).release(true)   // every later login fails with SQLSTATE 58P01 until healed
            let rows: unknown[] = []
            const warnings = await warningsDuring(async () => {
              rows = await runWithTenant(b, () => scoped.selectFrom('notes').select('body').execute())
            })
            assert.equal(rows.length, 2, where)
            assert.ok(warnings.some((w) => /TenantryRuntimeLoginWarning.*could not access file/.test(w)), warnings.join('\n'))
          }
          const left = await database.pool.query('select count(*)::int as n from pg_db_role_setting where setrole = $1::regrole', [own])
          assert.equal(left.rows[0].n, 0)
        })

        it('heals it when a model first opens its login pool, and install() removes every default of the runtime role', async () => {
          const own = uniqueName('tenantry_install')
          roles.push(own)
          const first = await oneConnection(own)
          await first.ready()
          await first.close()
          await database.pool.query(`alter role ${own} set local_preload_libraries = 'tenantry_missing_library'; alter role ${own} set statement_timeout = '1ms'`)
          const opening = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole: own, runtimeLogin: { max: 1 } })
          models.push(opening)
          await opening.ready()
          assert.equal((await runWithTenant(a, () => opening.kysely<DB>().selectFrom('notes').select('body').execute())).length, 2)
          await database.pool.query(`alter role ${own} set search_path = 'pg_catalog'; alter role ${own} set local_preload_libraries = 'tenantry_missing_library'`)
          await opening.install()
          const left = await database.pool.query('select count(*)::int as n from pg_db_role_setting where setrole = $1::regrole', [own])
          assert.equal(left.rows[0].n, 0)
        })
      })

      describe('(b) tenant roles without a password', () => {
        it('createTenantry logs database tenants in without a password when models.database.runtimePassword is \'none\'', async () => {
          const control = await backend.createDatabase()
          const own = uniqueName('tenantry_nopass')
          const tenantry = await createTenantry<DB>({
            database: control.url!,
            models: { database: { runtimePassword: 'none' } },
            migrations: { tenant: [{ id: '0001_notes', up: async ({ client }) => { await client.query('create table notes (id uuid primary key default gen_random_uuid(), tenant_id uuid, body text not null)') } }] },
            runtimeRole: own,
            doctor: 'off',
            onWarning: () => undefined,
          })
          let made: ScopedTenant | undefined
          try {
            made = await tenantry.tenants.create({ slug: 'nopass', name: 'No password', isolation: 'database' })
            await runWithTenant(made, () => tenantry.db.insertInto('notes').values({ body: 'logged in without a password' }).execute())
            assert.equal((await runWithTenant(made, () => tenantry.db.selectFrom('notes').select('body').execute())).length, 1)
          } finally {
            if (made !== undefined) await tenantry.tenants.offboard('nopass').catch(() => undefined)
            await tenantry.close()
            const left = await control.pool.query<{ rolname: string }>('select rolname from pg_roles where rolname = $1 or rolname like $2', [own, `${own}\\_%`])
            await dropRoles(control, left.rows.map((r) => r.rolname))
            await control.close()
          }
        })

        it('says which option to change when serverDatabases looks for a stored password that was never kept', async () => {
          const server = await backend.createDatabase()   // no install() ran here: no table of stored passwords
          try {
            const name = new URL(server.url!).pathname.slice(1)
            await assert.rejects(serverDatabases({ default: server.url! }).connect({ server: 'default', database: name, login: uniqueName('nobody') }),
              expectCode('ISOLATION_MISCONFIGURED', /pass \{ loginPasswords: 'none' \} to serverDatabases/))
          } finally {
            await server.close()
          }
        })
      })
    }
  })
}
