/**
 * doctor after a red team's second pass: what the runtime role reaches through a
 * column grant or a write privilege, views over tables no wall covers, TRUNCATE,
 * foreign keys that cross tenants, CONNECT through PUBLIC, the large-object
 * functions and server-wide statistics in a tenant database, and trustedFunctions
 * checked alike in every model. On PGlite and PostgreSQL. See docs/doctor.md and
 * docs/security.md.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import {
  DatabasePerTenantIsolation, SchemaPerTenantIsolation, SharedSchemaIsolation, tenantRoleName,
  type DoctorFinding, type DoctorReport, type SharedSchemaOptions,
} from '@tenantry/postgres'
import { sql, type Generated } from 'kysely'
import pg from 'pg'
import { installDatabaseWalls } from '@tenantry/postgres/internal'
import { doctorFixture, dropRoles, expectCode, tenantDatabases, testBackends, type TestDatabase, type TestTenantDatabases, uniqueName } from '@tenantry/test-kit'
import { errorsOf, findingsOf, installedSchemas, partitionedShared, projectsTable, provisioned, sharedOver, tenant } from './support/doctor.ts'

for (const backend of testBackends()) {
  describe(`doctor hardening on ${backend.name}`, () => {
    const fixture = doctorFixture(backend, 'h')
    const { role, roles, installed } = fixture
    let database: TestDatabase
    before(() => {
      database = fixture.database
    })

    describe('table.unprotected: any privilege, on the table or a column', () => {
      it('refuses a table without RLS that the runtime role reaches only through a column grant, and revoking the table takes the column grant too', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create table ${table}_loose (id int, secret text); grant select (secret) on ${table}_loose to ${role}`)
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), ['table.unprotected'])
        assert.match(findingsOf(report, 'table.unprotected')[0]!.message, /SELECT \(columns\)/)
        assert.match(findingsOf(report, 'table.unprotected')[0]!.fix!, new RegExp(`revoke all on "public"."${table}_loose" from public, "${role}"`))
        await database.pool.query(`revoke all on ${table}_loose from public, ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
        await database.pool.query(`drop table ${table}_loose`)
      })

      for (const privilege of ['insert', 'update', 'delete', 'truncate', 'insert (secret)', 'update (secret)']) {
        it(`refuses a table without RLS that the runtime role may only write to (${privilege})`, async () => {
          const { table, shared } = await installed()
          const [verb, columns] = privilege.split(' ')
          await database.pool.query(`create table ${table}_loose (id int, secret text); grant ${verb} ${columns ?? ''} on ${table}_loose to ${role}`)
          const report = await shared.doctor()
          assert.deepEqual(errorsOf(report), ['table.unprotected'])
          assert.match(findingsOf(report, 'table.unprotected')[0]!.message, new RegExp(columns ? `${verb!.toUpperCase()} \\(columns\\)` : verb!.toUpperCase()))
          await database.pool.query(`drop table ${table}_loose`)
        })
      }

      it('refuses a view without security_invoker over a table no wall covers, and accepts it with security_invoker', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create table ${table}_secrets (secret text);
          create view ${table}_peek as select * from ${table}_secrets; grant select on ${table}_peek to ${role}`)
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), ['table.unprotected'])
        assert.match(findingsOf(report, 'table.unprotected')[0]!.fix!, new RegExp(`alter view "public"."${table}_peek" set \\(security_invoker = true\\)`))
        // With security_invoker the view reads as the runtime role, which may not read the table.
        await database.pool.query(`alter view ${table}_peek set (security_invoker = true)`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
        await database.pool.query(`drop view ${table}_peek; drop table ${table}_secrets`)
      })

      it('refuses a materialized view the runtime role can read, whatever it was made from', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create materialized view ${table}_mv as select 'a secret'::text as secret; grant select on ${table}_mv to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['table.unprotected'])
        const global = new SharedSchemaIsolation(database, { tables: [table], globalTables: [`${table}_mv`], runtimeRole: role })
        fixture.opened.push(global)
        assert.deepEqual(errorsOf(await global.doctor()), [], 'listed as a global table, on purpose')
        await database.pool.query(`drop materialized view ${table}_mv`)
      })

      it('refuses a definer view over a tenant table that the runtime role reaches through a column grant or a write privilege', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create view ${table}_all as select * from ${table}; grant select (body) on ${table}_all to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['view.definer'])
        await database.pool.query(`revoke all on ${table}_all from ${role}; grant insert on ${table}_all to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['view.definer'])
        await database.pool.query(`drop view ${table}_all`)
      })

      it('refuses TRUNCATE on a tenant table: it is not subject to row-level security', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`grant truncate on ${table} to ${role}`)
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), ['table.truncate'])
        await database.pool.query(findingsOf(report, 'table.truncate')[0]!.fix!)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })

      it('checks the policy of a partition the runtime role reaches only through a column grant', async () => {
        const table = `h${fixture.next()}`
        const shared = await partitionedShared(fixture, table)
        await database.pool.query(`drop policy tenantry_tenant_isolation on ${table}_p0; grant select (body) on ${table}_p0 to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['rls.policy'])
        await database.pool.query(`revoke all on ${table}_p0 from ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })
    })

    describe('fk.without_tenant', () => {
      interface Tables {
        [table: string]: { id: Generated<number>; tenant_id: Generated<string>; name?: string; project_id?: number }
      }

      it('warns of a foreign key between tenant tables that leaves tenant_id out; its fix stops a tenant pointing at another tenant\'s row', async () => {
        const p = `h${fixture.next()}_projects`
        const t = `h${fixture.tableNo}_tasks`
        const shared = await sharedOver(fixture, [p, t], `create table ${p} (id int generated always as identity primary key, tenant_id uuid not null, name text);
          create index on ${p} (tenant_id);
          create table ${t} (id int generated always as identity primary key, tenant_id uuid not null, project_id int not null references ${p} (id) on delete cascade);
          create index on ${t} (tenant_id)`)
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), [], 'a warning: it does not refuse the start')
        const found = findingsOf(report, 'fk.without_tenant')
        assert.deepEqual(found.map((f) => [f.severity, f.table]), [['warning', `public.${t}`]])

        const db = shared.kysely<Tables>()
        const a = tenant('fk-a', 'shared')
        const b = tenant('fk-b', 'shared')
        const theirs = await runWithTenant(b, () => db.insertInto(p).values({ name: 'b secret' }).returning('id').executeTakeFirstOrThrow())
        // PostgreSQL checks the reference past RLS: A's row points at B's project.
        await runWithTenant(a, () => db.insertInto(t).values({ project_id: theirs.id }).execute())
        await database.pool.query(`delete from ${t}`)

        await database.pool.query(found[0]!.fix!)
        await assert.rejects(runWithTenant(a, () => db.insertInto(t).values({ project_id: theirs.id }).execute()))
        const ours = await runWithTenant(a, () => db.insertInto(p).values({ name: 'a project' }).returning('id').executeTakeFirstOrThrow())
        await runWithTenant(a, () => db.insertInto(t).values({ project_id: ours.id }).execute())
        assert.deepEqual(findingsOf(await shared.doctor(), 'fk.without_tenant'), [])
        // The action is kept: deleting the project still deletes its tasks.
        await runWithTenant(a, () => db.deleteFrom(p).where('id', '=', ours.id).execute())
        assert.equal((await database.pool.query(`select 1 from ${t}`)).rowCount, 0)
      })

      it('accepts a composite foreign key that carries tenant_id, and one to a table without it (a global table)', async () => {
        const p = `h${fixture.next()}_projects`
        const t = `h${fixture.tableNo}_tasks`
        const g = `h${fixture.tableNo}_plans`
        const shared = await sharedOver(fixture, [p, t], `create table ${g} (id int primary key, name text);
          create table ${p} (id int generated always as identity primary key, tenant_id uuid not null, unique (tenant_id, id));
          create index on ${p} (tenant_id);
          create table ${t} (id int generated always as identity primary key, tenant_id uuid not null, project_id int not null, plan_id int references ${g} (id),
            foreign key (tenant_id, project_id) references ${p} (tenant_id, id) on delete set null (project_id));
          create index on ${t} (tenant_id)`, { globalTables: [g] })
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), [])
        assert.deepEqual(findingsOf(report, 'fk.without_tenant'), [])
      })

      it('writes the fix of a set-null key so that it nulls the reference only, and adds no second unique key', async () => {
        const p = `h${fixture.next()}_projects`
        const t = `h${fixture.tableNo}_tasks`
        const shared = await sharedOver(fixture, [p, t], `create table ${p} (id int generated always as identity primary key, tenant_id uuid not null, unique (tenant_id, id));
          create index on ${p} (tenant_id);
          create table ${t} (id int generated always as identity primary key, tenant_id uuid not null,
            project_id int constraint ${t}_project references ${p} (id) on delete set null deferrable);
          create index on ${t} (tenant_id)`)
        const [finding] = findingsOf(await shared.doctor(), 'fk.without_tenant')
        assert.equal(finding?.fix, [
          `alter table public.${t} drop constraint "${t}_project", add constraint "${t}_project" foreign key ("tenant_id", "project_id") references public.${p} ("tenant_id", "id") on delete set null ("project_id") deferrable initially immediate not valid`,
          `alter table public.${t} validate constraint "${t}_project"`,
        ].join(';\n'))
        await database.pool.query(finding!.fix!)
        assert.deepEqual(findingsOf(await shared.doctor(), 'fk.without_tenant'), [])
      })
    })

    describe('the schema model', () => {
      let schemas: SchemaPerTenantIsolation
      let a: ScopedTenant
      let b: ScopedTenant

      before(async () => {
        schemas = await installedSchemas(fixture)
        a = await provisioned(schemas, tenant('hard-a', 'schema'), projectsTable)
        b = await provisioned(schemas, tenant('hard-b', 'schema'), `${projectsTable}; insert into projects (name) select 'b' from generate_series(1, 300); analyze projects`)
      })

      it('passes the tenant schemas provision() set up', async () => {
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
      })

      it('refuses a materialized view or a definer view in a tenant schema that no tenant policy covers', async () => {
        const schema = a.placement!.schema!
        await database.pool.query(`create materialized view ${schema}.summary as select 'a secret'::text as secret`)
        await schemas.installWalls(database.pool, a) // grants every relation of the schema, as after a migration
        assert.deepEqual(errorsOf(await schemas.doctor()), ['table.unprotected'])
        await database.pool.query(`drop materialized view ${schema}.summary;
          create table public.hard_hidden (secret text); create view ${schema}.peek as select * from public.hard_hidden`)
        await schemas.installWalls(database.pool, a)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['table.unprotected'])
        await database.pool.query(`alter view ${schema}.peek set (security_invoker = true)`)
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
        await database.pool.query(`drop view ${schema}.peek; drop table public.hard_hidden`)
      })

      it('refuses TRUNCATE on a tenant schema\'s table: any tenant could empty it', async () => {
        await database.pool.query(`grant truncate on ${b.placement!.schema!}.projects to ${role}`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['table.truncate'])
        await database.pool.query(`revoke truncate on ${b.placement!.schema!}.projects from ${role}`)
      })

      it('shows a tenant the names of other tenant schemas and their tables\' row counts (a documented limit)', async () => {
        const db = schemas.kysely<Record<string, never>>()
        const seen = await runWithTenant(a, () => trusted(sql<{ reltuples: number; rows: number }>`
          select c.reltuples::int as reltuples, (select count(*)::int from ${sql.table(`${b.placement!.schema!}.projects`)}) as rows
            from pg_catalog.pg_class c where c.relnamespace = ${b.placement!.schema!}::regnamespace and c.relname = 'projects'`).execute(db))
        // The policy hides B's rows, not the statistics of B's table.
        assert.deepEqual(seen.rows, [{ reltuples: 300, rows: 0 }])
      })
    })

    describe('trustedFunctions', () => {
      let places: TestTenantDatabases
      before(async () => {
        places = await tenantDatabases(backend, database)
      })
      after(async () => {
        await places.close()
      })

      it('is checked in the schema and database models as in the shared one: a signature with its argument list, or VALIDATION_FAILED', () => {
        for (const bad of [['public.count_notes'], ['count_notes()'], ['public.count_notes(integer'], 'public.f()', [42]] as unknown as string[][]) {
          assert.throws(() => new SharedSchemaIsolation(database, { tables: ['x'], trustedFunctions: bad }), expectCode('VALIDATION_FAILED', /trustedFunctions/))
          assert.throws(() => new SchemaPerTenantIsolation(database, { trustedFunctions: bad }), expectCode('VALIDATION_FAILED', /trustedFunctions/))
          assert.throws(() => new DatabasePerTenantIsolation({ router: places.router, provisioner: places.provisioner, trustedFunctions: bad }), expectCode('VALIDATION_FAILED', /trustedFunctions/))
        }
        const good = ['public.count_notes(integer)', 'app.current_plan()']
        assert.deepEqual(new SchemaPerTenantIsolation(database, { trustedFunctions: good }).trustedFunctions, good)
        assert.deepEqual(new DatabasePerTenantIsolation({ router: places.router, provisioner: places.provisioner, trustedFunctions: good }).trustedFunctions, good)
      })
    })

    describe('the database model', () => {
      let places: TestTenantDatabases
      let databases: DatabasePerTenantIsolation
      const t: Record<string, ScopedTenant> = {}

      before(async () => {
        places = await tenantDatabases(backend, database)
        databases = new DatabasePerTenantIsolation({ router: places.router, provisioner: places.provisioner, runtimeRole: role })
        await databases.install()
        for (const slug of ['da', 'db']) t[slug] = await provisioned(databases, tenant(`hard-${slug}`, 'database'), projectsTable)
      })
      after(async () => {
        for (const made of Object.values(t)) await databases.deprovision(made).catch(() => undefined)
        await places.close()
      })

      it('takes the large-object functions and the server-wide database statistics from PUBLIC in a tenant database, and doctor checks the former', async () => {
        const report = await databases.doctor({ tenants: [t.da!] })
        assert.deepEqual(errorsOf(report), [])
        assert.deepEqual(findingsOf(report, 'largeobject.reachable'), [])
        const db = databases.kysely<Record<string, never>>()
        await assert.rejects(runWithTenant(t.da!, () => trusted(sql`select lo_from_bytea(0, 'a secret')`).execute(db)), /permission denied/)
        await assert.rejects(runWithTenant(t.da!, () => trusted(sql`select datname, tup_inserted from pg_stat_database`).execute(db)), /permission denied/)
        await assert.rejects(runWithTenant(t.da!, () => trusted(sql`select pg_stat_get_db_tuples_inserted(oid) from pg_database`).execute(db)), /permission denied/)

        const key = { ...(t.da!.placement!.server === undefined ? {} : { server: t.da!.placement!.server }), database: t.da!.placement!.database! }
        await places.router.withClient(key, (c) => c.query('grant execute on function lo_get(oid) to public'))
        assert.deepEqual(findingsOf(await databases.doctor({ tenants: [t.da!] }), 'largeobject.reachable').map((f) => f.severity), ['warning'])
        await places.router.withClient(key, (c) => databases.installWalls(c, t.da!)) // as after a migration
        assert.deepEqual(findingsOf(await databases.doctor({ tenants: [t.da!] }), 'largeobject.reachable'), [])
      })

      if (backend.name === 'postgres') {
        it('revokes CONNECT from PUBLIC on each tenant database it creates: another tenant\'s role cannot log in to it', async () => {
          const dbA = t.da!.placement!.database!
          const dbB = t.db!.placement!.database!
          const access = (await database.pool.query<{ a: boolean; b: boolean }>(
            `select has_database_privilege('public', $1, 'CONNECT') as a, has_database_privilege('public', $2, 'CONNECT') as b`, [dbA, dbB],
          )).rows[0]
          assert.deepEqual(access, { a: false, b: false })
          await places.router.withClient({ database: dbA, login: tenantRoleName(role, t.da!) }, (c) => c.query('select 1'))
          await assert.rejects(places.router.withClient({ database: dbB, login: tenantRoleName(role, t.da!) }, (c) => c.query('select 1')))
          // Nor learn its size: pg_database_size needs CONNECT on it.
          const db = databases.kysely<Record<string, never>>()
          await assert.rejects(runWithTenant(t.da!, () => trusted(sql`select pg_database_size(${dbB}::text)`).execute(db)), /permission denied/)
          assert.deepEqual(findingsOf(await databases.doctor({ tenants: [t.da!, t.db!] }), 'role.other_databases'), [])
        })

        it('warns of any other database the runtime role or a tenant\'s role may connect to through PUBLIC, with the revoke', async () => {
          const other = uniqueName('hard_other_app')
          await database.pool.query(`create database ${other}`)
          try {
            const named = (report: DoctorReport): DoctorFinding | undefined => findingsOf(report, 'role.public_databases').find((f) => f.message.includes(`"${other}"`))
            const tenantFinding = named(await databases.doctor({ tenants: [t.da!] }))
            assert.equal(tenantFinding?.severity, 'warning')
            assert.match(tenantFinding!.message, new RegExp(tenantRoleName(role, t.da!)))
            assert.ok(tenantFinding!.fix!.includes(`revoke connect on database "${other}" from public`))
            const shared = (await installed()).shared
            assert.equal(named(await shared.doctor())?.severity, 'warning')
            await database.pool.query(`revoke connect on database ${other} from public`)
            assert.equal(named(await databases.doctor({ tenants: [t.da!] })), undefined)
            assert.equal(named(await shared.doctor()), undefined)
          } finally {
            await database.pool.query(`drop database if exists ${other} with (force)`)
          }
        })

        it('installs a tenant database\'s walls for an owner that is no superuser, leaving PostgreSQL\'s own objects to doctor', async () => {
          const owner = uniqueName('hard_owner')
          const runtime = uniqueName('hard_runtime')
          const name = uniqueName('hard_owned')
          await database.pool.query(`create role ${owner} nologin; create role ${runtime} nologin`)
          await database.pool.query(`create database ${name} owner ${owner}`)
          const url = new URL(database.url!)
          url.pathname = `/${name}`
          const client = new pg.Client({ connectionString: url.toString() })
          try {
            await client.connect()
            await client.query(`set role ${owner}`)
            await installDatabaseWalls(client, { runtimeRole: runtime, schemas: ['public'], createRole: false })
            const reach = (await client.query(
              `select has_schema_privilege('${runtime}', 'public', 'USAGE') as usage, has_database_privilege('public', current_database(), 'TEMPORARY') as temporary,
                      has_function_privilege('public', 'pg_catalog.lo_get(oid)', 'EXECUTE') as large_objects`,
            )).rows[0]
            // Only a superuser may take PostgreSQL's own functions from PUBLIC: they stay, and doctor warns (largeobject.reachable).
            assert.deepEqual(reach, { usage: true, temporary: false, large_objects: true })
          } finally {
            await client.end().catch(() => undefined)
            await database.pool.query(`drop database if exists ${name} with (force)`)
            await dropRoles(database, [owner, runtime])
          }
        })
      }
    })
  })
}
