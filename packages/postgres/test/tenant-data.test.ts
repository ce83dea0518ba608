import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runWithTenant, type IsolationModelName, type ScopedTenant } from '@tenantry/core'
import {
  DatabasePerTenantIsolation, PoolRouter, SchemaPerTenantIsolation, SharedSchemaIsolation, TenantData, serverDatabases, serverProvisioner,
} from '@tenantry/postgres'
import { pgliteDatabases, pgliteProvisioner } from '@tenantry/postgres/pglite'
import type { Generated, Kysely } from 'kysely'
import pg from 'pg'
import { startThrowawayServer, type ThrowawayServer, dropRoles, testBackends, uniqueName, type TestDatabase, openModels, type TestModels } from '@tenantry/test-kit'

interface DB {
  projects: { id: Generated<number>; tenant_id: Generated<string>; name: string }
}

const isCode = (code: string) => (e: unknown) => isTenantryError(e) && e.code === code
const make = (slug: string, isolation: IsolationModelName): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation })
const ownTable = 'create table projects (id int generated always as identity primary key, name text not null)'

for (const backend of testBackends()) {
  describe(`one process, three isolation models, on ${backend.name}`, () => {
    let database: TestDatabase
    let router: PoolRouter
    let databases: DatabasePerTenantIsolation
    let db: Kysely<DB>
    const role = uniqueName('tenantry_app')
    const tenants: ScopedTenant[] = []

    let models: TestModels

    before(async () => {
      database = await backend.createDatabase()
      await database.pool.query(`create table projects (id int generated always as identity primary key, tenant_id uuid not null, name text not null);
                                 create index on projects (tenant_id)`)
      models = await openModels(backend, database, { role, shared: { tables: ['projects'] } })
      const shared = models.shared!
      await shared.assertSafe()
      const schemas = models.schemas
      router = models.router
      databases = models.databases
      for (const [slug, model] of [['acme', 'shared'], ['hooli', 'shared'], ['globex', 'schema'], ['umbrella', 'schema'], ['initech', 'database'], ['wonka', 'database']] as const) {
        let tenant = make(slug, model)
        if (model === 'schema') tenant = { ...tenant, placement: await schemas.provision(tenant, async (c) => { await c.query(ownTable) }) }
        if (model === 'database') tenant = { ...tenant, placement: await databases.provision(tenant, async (c) => { await c.query(ownTable) }) }
        tenants.push(tenant)
      }
      db = new TenantData({ shared, schema: schemas, database: databases }).kysely<DB>()
    })

    after(async () => {
      for (const tenant of tenants.filter((t) => t.isolation === 'database')) await databases.deprovision(tenant).catch(() => undefined)
      await models.close()
      await dropRoles(database, [role])
      await database.close()
    })

    it('runs the same application code for tenants of every model, interleaved, without mixing rows', async () => {
      const app = {
        addProject: (name: string) => db.insertInto('projects').values({ name }).returning('id').executeTakeFirstOrThrow(),
        listProjects: () => db.selectFrom('projects').select('name').orderBy('id').execute(),
      }
      await Promise.all(tenants.flatMap((tenant) =>
        Array.from({ length: 10 }, (_, i) => runWithTenant(tenant, () => app.addProject(`${tenant.slug}-${i}`))),
      ))
      for (const tenant of tenants) {
        const names = (await runWithTenant(tenant, app.listProjects)).map((r) => r.name)
        assert.equal(names.length, 10, tenant.slug)
        assert.ok(names.every((n) => n.startsWith(`${tenant.slug}-`)), `${tenant.slug} saw ${names.join(', ')}`)
      }
    })

    it('puts each model\'s rows where the model says', async () => {
      const shared = await database.pool.query('select count(distinct tenant_id)::int as n from public.projects')
      assert.equal(shared.rows[0].n, 2)
      const globex = tenants.find((t) => t.slug === 'globex')!
      const inSchema = await database.pool.query(`select count(*)::int as n from "${globex.placement!.schema}".projects`)
      assert.equal(inSchema.rows[0].n, 10)
    })

    it('keeps a database tenant\'s updates and deletes inside its own database', async () => {
      const [initech, wonka] = tenants.filter((t) => t.isolation === 'database') as [ScopedTenant, ScopedTenant]
      const deleted = await runWithTenant(initech, () => db.deleteFrom('projects').where('name', 'like', '%-1%').executeTakeFirst())
      assert.equal(Number(deleted.numDeletedRows), 1)
      const left = await runWithTenant(wonka, () => db.selectFrom('projects').select('name').execute())
      assert.equal(left.length, 10)
    })

    it('gives a raw client in one scoped transaction, for every model', async () => {
      const data = new TenantData({ shared: models.shared!, schema: models.schemas, database: databases })
      for (const tenant of tenants.filter((t) => t.slug !== 'initech')) {
        const count = await runWithTenant(tenant, () => data.withClient(async (client) => (await client.query('select count(*)::int as n from projects')).rows[0].n))
        assert.equal(count, 10, tenant.slug)
      }
      const acme = tenants[0]!
      await assert.rejects(runWithTenant(acme, () => data.withClient(async (client) => {
        await client.query("insert into projects (name, tenant_id) values ('temp', $1)", [acme.id])
        throw new Error('undo')
      })), /undo/)
      assert.equal(await runWithTenant(acme, () => data.withClient(async (c) => (await c.query('select count(*)::int as n from projects')).rows[0].n)), 10)
      await assert.rejects(data.withClient(async (c) => c.query('select 1')), isCode('TENANT_CONTEXT_MISSING'))
    })

    it('refuses a shared tenant\'s query that names a tenant schema', async () => {
      const acme = tenants.find((t) => t.slug === 'acme')!
      const globex = tenants.find((t) => t.slug === 'globex')!
      await assert.rejects(runWithTenant(acme, () => db.withSchema(globex.placement!.schema!).selectFrom('projects').select('name').execute()), isCode('QUERY_REFUSED'))
      await assert.rejects(runWithTenant(acme, () => db.updateTable(`${globex.placement!.schema!}.projects` as 'projects').set({ name: 'x' }).execute()), isCode('QUERY_REFUSED'))
      assert.equal((await runWithTenant(acme, () => db.withSchema('public').selectFrom('projects').select('name').execute())).length, 10)
    })

    it('refuses a tenant placed in a model this process did not configure', async () => {
      const onlyShared = new TenantData({ schema: models.schemas }).kysely<DB>()
      await assert.rejects(runWithTenant(tenants[0]!, () => onlyShared.selectFrom('projects').selectAll().execute()), isCode('ISOLATION_MISCONFIGURED'))
    })

    it('answers TENANT_PLACEMENT_MISSING for a database tenant whose database was never created', async () => {
      const ghost = make('ghost', 'database')
      await assert.rejects(runWithTenant(ghost, () => db.selectFrom('projects').selectAll().execute()), isCode('TENANT_PLACEMENT_MISSING'))
      const initech = tenants.find((t) => t.slug === 'initech')!
      assert.equal((await runWithTenant(initech, () => db.selectFrom('projects').select('id').execute())).length, 9)
      // Provisioning right after the router remembered it missing must still work.
      const placedGhost = { ...ghost, placement: await databases.provision(ghost, async (c) => { await c.query(ownTable) }) }
      tenants.push(placedGhost)
      assert.deepEqual(await runWithTenant(placedGhost, () => db.selectFrom('projects').selectAll().execute()), [])
    })
  })
}

const pgUrl = process.env.TENANTRY_PG_URL
describe('database tenants on several PostgreSQL servers', { skip: pgUrl ? false : 'needs TENANTRY_PG_URL' }, () => {
  let second: ThrowawayServer
  let main: TestDatabase
  let router: PoolRouter
  let databases: DatabasePerTenantIsolation
  let db: Kysely<DB>
  const placed: ScopedTenant[] = []
  const role = uniqueName('tenantry_app')

  before(async () => {
    main = await testBackends().find((b) => b.name === 'postgres')!.createDatabase()
    second = await startThrowawayServer()
    const servers = { default: main.url!, second: second.url }
    router = new PoolRouter({ databases: serverDatabases(servers), budget: 6 })
    databases = new DatabasePerTenantIsolation({ router, provisioner: serverProvisioner(servers), runtimeRole: role })
    await databases.install()
    for (const [slug, server] of [['north', 'default'], ['south', 'second']] as const) {
      const tenant = make(slug, 'database')
      placed.push({ ...tenant, placement: await databases.provision(tenant, async (c) => { await c.query(ownTable) }, { server }) })
    }
    db = new TenantData({ database: databases }).kysely<DB>()
  })
  after(async () => {
    for (const tenant of placed) await databases.deprovision(tenant).catch(() => undefined)
    await router?.close()
    await second?.stop()
    await dropRoles(main, [role])
    await main?.close()
  })

  it('places each tenant on the server its placement names', async () => {
    assert.deepEqual(placed.map((t) => t.placement?.server), ['default', 'second'])
    for (const tenant of placed) await runWithTenant(tenant, () => db.insertInto('projects').values({ name: tenant.slug }).execute())
    const onSecond = new pg.Client({ connectionString: second.url.replace(/\/[^/]*$/, `/${placed[1]!.placement!.database}`) })
    await onSecond.connect()
    try {
      assert.deepEqual((await onSecond.query('select name from projects')).rows, [{ name: 'south' }])
    } finally {
      await onSecond.end()
    }
  })

  it('keeps serving the tenants of one server while the other is down', async () => {
    await second.stop()
    const [north, south] = placed as [ScopedTenant, ScopedTenant]
    await assert.rejects(runWithTenant(south, () => db.selectFrom('projects').selectAll().execute()), isCode('TENANT_DATABASE_UNAVAILABLE'))
    assert.deepEqual(await runWithTenant(north, () => db.selectFrom('projects').select('name').execute()), [{ name: 'north' }])
  })
})
