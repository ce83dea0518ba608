import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runAsSystem, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { SchemaPerTenantIsolation, tenantSchemaName } from '@tenantry/postgres'
import { sql, type Generated, type Kysely } from 'kysely'
import { trusted } from '@tenantry/kysely'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'

interface DB {
  projects: { id: Generated<number>; name: string }
}

const isCode = (code: string) => (e: unknown) => isTenantryError(e) && e.code === code
const make = (slug: string): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation: 'schema' })

for (const backend of testBackends()) {
  describe(`schema per tenant on ${backend.name}`, () => {
    let database: TestDatabase
    const role = uniqueName('tenantry_schema_app')
    let schemas: SchemaPerTenantIsolation
    let db: Kysely<DB>
    let acme: ScopedTenant
    let globex: ScopedTenant
    const setup = async (client: { query(sql: string): Promise<unknown> }) => {
      await client.query('create table projects (id int generated always as identity primary key, name text not null)')
    }

    before(async () => {
      database = await backend.createDatabase()
      // A decoy in public: a tenant query that fell back to public would find it.
      await database.pool.query(`create table public.projects (id int primary key, name text not null); insert into public.projects values (1, 'public decoy')`)
      schemas = new SchemaPerTenantIsolation(database, { runtimeRole: role })
      await schemas.install()
      await schemas.install() // idempotent
      acme = make('acme')
      globex = make('globex')
      acme = { ...acme, placement: await schemas.provision(acme, setup) }
      globex = { ...globex, placement: await schemas.provision(globex, setup) }
      db = schemas.kysely<DB>()
    })
    after(async () => {
      await schemas.close()
      await dropRoles(database, [role])
      await database.close()
    })

    it('derives the schema from the tenant id, so a reused slug never reaches old data', () => {
      assert.equal(acme.placement?.schema, tenantSchemaName(acme))
      assert.match(tenantSchemaName(acme), /^tenant_[0-9a-f]{32}$/)
    })

    it('keeps each tenant\'s rows in its own schema', async () => {
      await runWithTenant(acme, () => db.insertInto('projects').values({ name: 'acme rocket' }).execute())
      await runWithTenant(globex, () => db.insertInto('projects').values([{ name: 'globex one' }, { name: 'globex two' }]).execute())
      const seen = await runWithTenant(acme, () => db.selectFrom('projects').select('name').execute())
      assert.deepEqual(seen, [{ name: 'acme rocket' }])
      const count = await runWithTenant(globex, () => db.selectFrom('projects').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow())
      assert.equal(Number(count.n), 2)
    })

    it('sets search_path and role per transaction only, in the same round trip as the query', async () => {
      const before = schemas.stats.roundTrips
      const probe = await runWithTenant(acme, () => trusted(sql<{ path: string; who: string }>`select current_setting('search_path') as path, current_user as who`).execute(db))
      // One round trip for the statement, its settings and (after trusted, opaque SQL) the session reset.
      assert.equal(schemas.stats.roundTrips - before, 1)
      assert.deepEqual(probe.rows, [{ path: `${tenantSchemaName(acme)}, pg_temp`, who: role }])
      const { rows } = await (await schemas.ready()).query(`select current_setting('search_path') as path, current_user = session_user as same`)
      assert.equal(rows[0].same, true)
      assert.ok(!String(rows[0].path).includes('tenant_'), 'the session search_path is untouched')
    })

    it('fails with TENANT_PLACEMENT_MISSING, never a query against public, when the schema is gone', async () => {
      const ghost = make('ghost')
      await assert.rejects(runWithTenant(ghost, () => db.selectFrom('projects').selectAll().execute()), isCode('TENANT_PLACEMENT_MISSING'))
      await assert.rejects(runWithTenant(ghost, () => db.transaction().execute((trx) => trx.selectFrom('projects').selectAll().execute())), isCode('TENANT_PLACEMENT_MISSING'))
      // The failed BEGIN left no open transaction on the pooled connection.
      for (let i = 0; i < 3; i++) {
        assert.equal((await runWithTenant(acme, () => db.selectFrom('projects').select('name').execute())).length, 1)
      }
    })

    it('refuses no context, raw SQL and suspended tenants as the shared model does', async () => {
      await assert.rejects(db.selectFrom('projects').selectAll().execute(), isCode('TENANT_CONTEXT_MISSING'))
      await assert.rejects(runWithTenant({ ...acme, status: 'suspended' }, () => db.selectFrom('projects').selectAll().execute()), isCode('TENANT_SUSPENDED'))
    })

    it('runs tenant transactions in the tenant schema and rolls them back whole', async () => {
      await assert.rejects(runWithTenant(globex, () => db.transaction().execute(async (trx) => {
        await trx.insertInto('projects').values({ name: 'temp' }).execute()
        throw new Error('boom')
      })), /boom/)
      const names = await runWithTenant(globex, () => db.selectFrom('projects').select('name').orderBy('name').execute())
      assert.deepEqual(names.map((r) => r.name), ['globex one', 'globex two'])
    })

    it('refuses schema-qualified names, which could reach another tenant\'s schema', async () => {
      await assert.rejects(runWithTenant(acme, () => db.withSchema(globex.placement!.schema!).selectFrom('projects').selectAll().execute()), isCode('QUERY_REFUSED'))
      await assert.rejects(runWithTenant(acme, () => db.selectFrom(`${globex.placement!.schema!}.projects` as 'projects').selectAll().execute()), isCode('QUERY_REFUSED'))
      await assert.rejects(runWithTenant(acme, () => db.selectFrom('projects').where('id', 'in', (eb) => eb.selectFrom(`${globex.placement!.schema!}.projects` as 'projects').select('id')).selectAll().execute()), isCode('QUERY_REFUSED'))
    })

    it('refuses DDL in a tenant scope, so no temporary table outlives the transaction on a pooled connection', async () => {
      await assert.rejects(runWithTenant(acme, () => db.schema.createTable('projects').temporary().addColumn('id', 'integer').addColumn('name', 'text').execute()), isCode('QUERY_REFUSED'))
    })

    it('looks up the temp schema last, so a leftover temporary table cannot shadow tenant tables', async () => {
      const client = await database.pool.connect()
      try {
        await client.query("create temporary table projects (id int, name text); insert into projects values (99, 'leftover temp row')")
      } finally {
        client.release()
      }
      const names = await runWithTenant(acme, () => db.selectFrom('projects').select('name').execute())
      assert.ok(!names.some((r) => r.name === 'leftover temp row'))
      const again = await database.pool.connect()
      try {
        await again.query('drop table if exists pg_temp.projects')
      } finally {
        again.release()
      }
    })

    it('keeps a table added to a tenant schema out of reach until its walls are installed with it', async () => {
      await runAsSystem('test: migration', async () => {
        await database.pool.query(`create table "${acme.placement!.schema!}".labels (id int primary key, name text)`)
      })
      await assert.rejects(runWithTenant(acme, () => trusted(sql`select count(*)::int as n from labels`).execute(db)), /permission denied/)
      await schemas.installWalls(database.pool, acme)
      const rows = await runWithTenant(acme, () => trusted(sql<{ n: number }>`select count(*)::int as n from labels`).execute(db))
      assert.deepEqual(rows.rows, [{ n: 0 }])
    })

    it('drops a tenant schema on deprovision', async () => {
      const temp = make('temp')
      const placed = { ...temp, placement: await schemas.provision(temp, setup) }
      await schemas.deprovision(placed)
      await assert.rejects(runWithTenant(placed, () => db.selectFrom('projects').selectAll().execute()), isCode('TENANT_PLACEMENT_MISSING'))
    })

    it('runs system-scope queries on the connecting role\'s own search_path', async () => {
      const rows = await runAsSystem('test: public decoy', () => db.selectFrom('projects').select('name').execute())
      assert.deepEqual(rows, [{ name: 'public decoy' }])
    })
  })
}
