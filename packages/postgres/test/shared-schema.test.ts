import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runAsSystem, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import { CompiledQuery, sql, type Generated, type Kysely } from 'kysely'
import { SharedSchemaIsolation } from '@tenantry/postgres'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '../../../test/support/backends.ts'

interface DB {
  notes: { id: number; tenant_id: Generated<string>; body: string }
}

const acme: ScopedTenant = { id: randomUUID(), slug: 'acme', status: 'active' }
const globex: ScopedTenant = { id: randomUUID(), slug: 'globex', status: 'active' }
const suspended: ScopedTenant = { id: randomUUID(), slug: 'sleepy', status: 'suspended' }

const isCode = (code: string) => (e: unknown) => isTenantryError(e) && e.code === code

const schemaSql = `
  create table notes (id int primary key, tenant_id uuid not null, body text not null);
  create index notes_tenant on notes (tenant_id);
  insert into notes values (1, '${acme.id}', 'acme one'), (2, '${acme.id}', 'acme two'), (3, '${globex.id}', 'globex one');`

for (const backend of testBackends()) {
  describe(`shared schema on ${backend.name}`, () => {
    let database: TestDatabase
    const role = uniqueName('tenantry_app')
    const roles = [role]
    let shared: SharedSchemaIsolation
    let db: Kysely<DB>

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(schemaSql)
      shared = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole: role })
      await shared.install()
      db = shared.kysely<DB>()
    })

    after(async () => {
      await dropRoles(database, roles)
      await database.close()
    })

    it('passes doctor after install()', async () => {
      const report = await shared.doctor()
      assert.deepEqual(report.findings.filter((f) => f.severity === 'error'), [])
      assert.equal(report.ok, true)
    })

    it('sends a scoped autocommit query and its tenant settings in one round trip', async () => {
      const before = { ...shared.stats }
      const rows = await runWithTenant(acme, () => db.selectFrom('notes').select(['id', 'body']).orderBy('id').execute())
      assert.deepEqual(rows, [{ id: 1, body: 'acme one' }, { id: 2, body: 'acme two' }])
      assert.equal(shared.stats.roundTrips - before.roundTrips, 1)
      assert.equal(shared.stats.statements - before.statements, 2)
    })

    it('keeps the tenant setting and role transaction-local: nothing is left on the connection', async () => {
      await runWithTenant(acme, () => db.selectFrom('notes').select('id').execute())
      const client = await database.pool.connect()
      try {
        const { rows } = await client.query(`select current_user = session_user as same_user, coalesce(current_setting('tenantry.tenant_id', true), '') as tenant`)
        assert.deepEqual(rows, [{ same_user: true, tenant: '' }])
      } finally {
        client.release()
      }
    })

    it('runs tenant transactions as the runtime role with the tenant set, BEGIN and settings in one round trip', async () => {
      const before = { ...shared.stats }
      const seen = await runWithTenant(globex, () =>
        db.transaction().execute(async (trx) => {
          const who = await trusted(sql<{ role: string; tenant: string }>`select current_user as role, current_setting('tenantry.tenant_id') as tenant`).execute(trx)
          const rows = await trx.selectFrom('notes').select('body').execute()
          return { who: who.rows[0], rows }
        }),
      )
      assert.deepEqual(seen.who, { role, tenant: globex.id })
      assert.deepEqual(seen.rows, [{ body: 'globex one' }])
      // begin + settings, probe, select, commit
      assert.equal(shared.stats.roundTrips - before.roundTrips, 4)
      assert.equal(shared.stats.transactions - before.transactions, 1)
    })

    it('lets RLS alone hide other tenants\' rows from trusted raw SQL', async () => {
      const rows = await runWithTenant(acme, () => trusted(sql<{ body: string; who: string }>`select body, current_user as who from notes order by id`).execute(db))
      assert.deepEqual(rows.rows.map((r) => r.body), ['acme one', 'acme two'])
      assert.equal(rows.rows[0]?.who, role)
    })

    it('refuses raw SQL at the root of a tenant query unless it is marked trusted', async () => {
      const before = shared.stats.roundTrips
      await assert.rejects(runWithTenant(acme, () => sql`select * from notes`.execute(db)), isCode('QUERY_REFUSED'))
      assert.equal(shared.stats.roundTrips, before, 'nothing reached the database')
    })

    it('fails closed with TENANT_CONTEXT_MISSING, before any SQL is sent, when no tenant is in context', async () => {
      const before = shared.stats.roundTrips
      await assert.rejects(db.selectFrom('notes').selectAll().execute(), isCode('TENANT_CONTEXT_MISSING'))
      await assert.rejects(db.executeQuery(CompiledQuery.raw('select * from notes')), isCode('TENANT_CONTEXT_MISSING'))
      assert.equal(shared.stats.roundTrips, before)
    })

    it('refuses a suspended tenant with TENANT_SUSPENDED', async () => {
      await assert.rejects(runWithTenant(suspended, () => db.selectFrom('notes').selectAll().execute()), isCode('TENANT_SUSPENDED'))
    })

    it('never runs a query compiled for one tenant in another tenant\'s scope', async () => {
      const compiled = runWithTenant(acme, () => db.selectFrom('notes').selectAll().compile())
      await assert.rejects(runWithTenant(globex, () => db.executeQuery(compiled)), isCode('TENANT_MISMATCH'))
      const ok = await runWithTenant(acme, () => db.executeQuery(compiled))
      assert.equal(ok.rows.length, 2)
    })

    it('refuses a hand-built CompiledQuery in a tenant scope', async () => {
      await assert.rejects(runWithTenant(acme, () => db.executeQuery(CompiledQuery.raw('select * from notes'))), isCode('QUERY_REFUSED'))
    })

    it('refuses to use a transaction begun for one tenant from another tenant\'s scope', async () => {
      await assert.rejects(
        runWithTenant(acme, () =>
          db.transaction().execute((trx) => runWithTenant(globex, () => trx.selectFrom('notes').selectAll().execute(), { switch: true })),
        ),
        isCode('TENANT_MISMATCH'),
      )
    })

    it('rolls back a failed tenant transaction and keeps the connection usable', async () => {
      await assert.rejects(
        runWithTenant(acme, () =>
          db.transaction().execute(async (trx) => {
            await trx.insertInto('notes').values({ id: 10, body: 'temp' }).execute()
            throw new Error('boom')
          }),
        ),
        /boom/,
      )
      const count = await runAsSystem('test: verify rollback', () => db.selectFrom('notes').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow())
      assert.equal(Number(count.n), 3)
    })

    it('sees every tenant in an audited system scope', async () => {
      const rows = await runAsSystem('test: cross-tenant count', () => db.selectFrom('notes').select('id').orderBy('id').execute())
      assert.deepEqual(rows.map((r) => r.id), [1, 2, 3])
    })

    it('makes RLS reject an insert that names another tenant even without the plugin', async () => {
      const rlsOnly = new SharedSchemaIsolation(database, { tables: ['notes'], runtimeRole: role, walls: { plugin: false, rls: true } })
      const raw = rlsOnly.kysely<DB>()
      await assert.rejects(runWithTenant(acme, () => raw.insertInto('notes').values({ id: 20, tenant_id: globex.id, body: 'smuggled' }).execute()), /row-level security/)
      const visible = await runWithTenant(acme, () => raw.selectFrom('notes').select('id').execute())
      assert.deepEqual(visible.map((r) => r.id).sort(), [1, 2])
    })

    it('rejects invalid options at construction', () => {
      assert.throws(() => new SharedSchemaIsolation(database, { tables: [] }), isCode('VALIDATION_FAILED'))
      assert.throws(() => new SharedSchemaIsolation(database, { tables: ['notes; drop table x'] }), isCode('VALIDATION_FAILED'))
      assert.throws(() => new SharedSchemaIsolation(database, { tables: ['notes'], walls: { plugin: false, rls: false } }), isCode('VALIDATION_FAILED'))
    })
  })
}
