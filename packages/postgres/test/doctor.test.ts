import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { SchemaPerTenantIsolation, SharedSchemaIsolation, type SharedSchemaOptions } from '@tenantry/postgres'
import type { Kysely } from 'kysely'
import { doctorFixture, dropRoles, testBackends, type TestDatabase, uniqueName } from '@tenantry/test-kit'
import { errorsOf, installedSchemas, partitionedShared, projectsTable, provisioned, tenant, warningsOf } from './support/doctor.ts'

for (const backend of testBackends()) {
  describe(`doctor on ${backend.name}`, () => {
    const fixture = doctorFixture(backend, 't')
    const { role, roles, installed } = fixture
    let database: TestDatabase
    before(() => {
      database = fixture.database
    })

    /** A fresh tenant table, installed, then broken by `breakIt`; returns the doctor's failed checks. */
    async function checksAfter(breakIt: (table: string) => string | undefined, options: Partial<SharedSchemaOptions> = {}): Promise<string[]> {
      const { table, shared } = await installed(options)
      const breaking = breakIt(table)
      if (breaking) await database.pool.query(breaking)
      const checks = errorsOf(await shared.doctor())
      // A broken table would be another model's unprotected table in the next test.
      await database.pool.query(`drop table ${table} cascade`)
      return checks
    }

    it('passes a table that install() set up', async () => {
      assert.deepEqual(await checksAfter(() => undefined), [])
    })

    describe('the runtime role', () => {
      it('refuses a runtime role that is superuser, and install() takes the attribute away again', async () => {
        const su = uniqueName('tenantry_su')
        roles.push(su)
        const { shared } = await installed({ runtimeRole: su })
        await database.pool.query(`alter role ${su} superuser`)
        assert.ok(errorsOf(await shared.doctor()).includes('role.superuser'))
        await shared.install()
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })

      it('refuses a runtime role with BYPASSRLS or CREATEROLE', async () => {
        assert.ok((await checksAfter(() => `alter role ${role} bypassrls`)).includes('role.bypassrls'))
        await database.pool.query(`alter role ${role} nobypassrls createrole`)
        const { shared } = await installed()
        await database.pool.query(`alter role ${role} createrole`)
        assert.ok(errorsOf(await shared.doctor()).includes('role.createrole'))
        await database.pool.query(`alter role ${role} nocreaterole`)
      })

      it('refuses a runtime role that belongs to a predefined role reaching past RLS', async () => {
        assert.ok((await checksAfter(() => `grant pg_read_all_data to ${role}`)).includes('role.predefined'))
        await database.pool.query(`revoke pg_read_all_data from ${role}`)
      })

      it('refuses a runtime role that owns a tenant table', async () => {
        assert.ok((await checksAfter((t) => `alter table ${t} owner to ${role}`)).includes('role.owner'))
      })

      it('refuses a runtime role that may create temporary tables', async () => {
        const { shared } = await installed()
        await database.pool.query(`do $$ begin execute format('grant temporary on database %I to public', current_database()); end $$`)
        assert.ok(errorsOf(await shared.doctor()).includes('role.temporary'))
        await shared.install()
        assert.ok(!errorsOf(await shared.doctor()).includes('role.temporary'))
      })

      it('refuses a runtime role that may create objects in a schema (they could stand in for what policies call)', async () => {
        assert.deepEqual(await checksAfter(() => `grant create on schema public to ${role}`), ['role.create'])
        await database.pool.query(`revoke create on schema public from ${role}`)
      })

      it('refuses a runtime role that may create schemas in the database', async () => {
        assert.deepEqual(await checksAfter(() => `do $$ begin execute format('grant create on database %I to ${role}', current_database()); end $$`), ['role.create'])
        await database.pool.query(`do $$ begin execute format('revoke create on database %I from ${role}', current_database()); end $$`)
      })

      it('refuses session defaults on the runtime role (every login would start with them)', async () => {
        assert.deepEqual(await checksAfter(() => `alter role ${role} set statement_timeout = '1s'`), ['role.settings'])
        await database.pool.query(`alter role ${role} reset all`)
      })

      it('judges a role switch by what the login could switch back to', async () => {
        const { shared } = await installed({ runtimeLogin: 'switch' })
        const report = await shared.doctor()
        // The test login is a superuser: on PostgreSQL that fails; PGlite is always one, so it warns.
        if (backend.name === 'postgres') assert.ok(errorsOf(report).includes('role.escape'))
        else assert.ok(warningsOf(report).includes('role.escape') && !errorsOf(report).includes('role.escape'))
      })

      if (backend.name === 'postgres') {
        it('accepts a login role that is a member of no privileged role, and refuses one that can reach the owner', async () => {
          const login = uniqueName('tenantry_login')
          roles.push(login)
          const { table, shared } = await installed({ runtimeLogin: { user: login } })
          assert.deepEqual(errorsOf(await shared.doctor()), [])
          const owner = uniqueName('tenantry_owner')
          roles.push(owner)
          await database.pool.query(`create role ${owner} nologin; alter table ${table} owner to ${owner}; grant ${owner} to ${login}`)
          assert.ok(errorsOf(await shared.doctor()).includes('role.escape'))
        })
      }
    })

    describe('the scope guard', () => {
      it('refuses a runtime role that can read the signing keys or lift a fence', async () => {
        assert.ok((await checksAfter(() => `grant usage on schema tenantry to ${role}; grant select on tenantry.scope_keys to ${role}`)).includes('guard.key_readable'))
        await database.pool.query(`revoke select on tenantry.scope_keys from ${role}`)
        assert.ok((await checksAfter(() => `grant delete on tenantry.tenant_fences to ${role}`)).includes('guard.fence_writable'))
        await database.pool.query(`revoke delete on tenantry.tenant_fences from ${role}; revoke usage on schema tenantry from ${role}`)
      })

      it('refuses a guard function that lost SECURITY DEFINER', async () => {
        const { shared } = await installed()
        await database.pool.query('alter function tenantry_guard.tenant() security invoker')
        assert.ok(errorsOf(await shared.doctor()).includes('guard.altered'))
        await shared.install()
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })
    })

    describe('policies, compared exactly', () => {
      it('refuses a table whose RLS is not forced', async () => {
        assert.deepEqual(await checksAfter((t) => `alter table ${t} no force row level security`), ['rls.not_forced'])
      })

      it('refuses a table with RLS disabled', async () => {
        assert.ok((await checksAfter((t) => `alter table ${t} disable row level security`)).includes('rls.disabled'))
      })

      it('refuses a table without the tenant policy', async () => {
        assert.deepEqual(await checksAfter((t) => `drop policy tenantry_tenant_isolation on ${t}`), ['rls.policy'])
      })

      for (const [what, using] of [
        ['the Tenantry policy with `or true` appended', `tenant_id = (select tenantry_guard.tenant()) or true`],
        ['the Tenantry policy turned into a non-match', `tenant_id <> (select tenantry_guard.tenant())`],
        ['a policy that mentions the setting and the column but checks nothing', `current_setting('tenantry.scope', true) is not null and tenant_id is not null`],
      ]) {
        it(`refuses ${what}`, async () => {
          const checks = await checksAfter((t) => `drop policy tenantry_tenant_isolation on ${t}; create policy tenantry_tenant_isolation on ${t} using (${using}) with check (${using})`)
          assert.deepEqual(checks, ['rls.policy'])
        })
      }

      it('refuses the Tenantry policy narrowed to some roles or commands', async () => {
        assert.deepEqual(await checksAfter((t) => `alter policy tenantry_tenant_isolation on ${t} to ${role}`), ['rls.policy'])
      })

      for (const [what, using] of [
        ['that does not check the tenant', 'true'],
        ['even one that compares with the scope', `tenant_id is not null and current_setting('tenantry.scope', true) is not null`],
        ['even a copy of the tenant policy', 'tenant_id = (select tenantry_guard.tenant())'],
      ]) {
        it(`refuses any other permissive policy, ${what}`, async () => {
          assert.deepEqual(await checksAfter((t) => `create policy open_all on ${t} for select using (${using})`), ['rls.extra_permissive'])
        })
      }

      it('accepts an extra restrictive policy', async () => {
        assert.deepEqual(await checksAfter((t) => `create policy only_small on ${t} as restrictive for select using (id < 1000)`), [])
      })
    })

    describe('tables, columns and indexes', () => {
      it('refuses a tenant table without an index leading with tenant_id', async () => {
        assert.deepEqual(await checksAfter((t) => `drop index ${t}_tenant_id_idx`), ['index.missing'])
      })

      it('refuses a nullable tenant column', async () => {
        assert.deepEqual(await checksAfter((t) => `alter table ${t} alter column tenant_id drop not null`), ['column.nullable'])
      })

      it('refuses a unique index that spans tenants, and accepts one that includes tenant_id', async () => {
        assert.deepEqual(await checksAfter((t) => `create unique index ${t}_body on ${t} (body)`), ['index.global_unique'])
        assert.deepEqual(await checksAfter((t) => `create unique index ${t}_body on ${t} (tenant_id, body)`), [])
      })

      it('only warns about a sequence-assigned key, and says nothing of a uuid one', async () => {
        const { shared } = await installed({}, 'alter table $t add column seq bigserial unique, add column ref uuid unique default gen_random_uuid()')
        const report = await shared.doctor()
        assert.deepEqual(errorsOf(report), [])
        assert.deepEqual(report.findings.filter((f) => f.check === 'index.global_unique').map((f) => [f.severity, /seq/.test(f.message)]), [['warning', true]])
      })

      it('refuses a missing tenant table and a missing tenant column', async () => {
        const shared = new SharedSchemaIsolation(database, { tables: ['no_such_table'], runtimeRole: role, walls: { plugin: true, rls: false } })
        assert.deepEqual(errorsOf(await shared.doctor()), ['table.missing'])
        await database.pool.query('create table no_tenant (id int generated always as identity primary key)')
        const noColumn = new SharedSchemaIsolation(database, { tables: ['no_tenant'], runtimeRole: role, walls: { plugin: true, rls: false } })
        assert.deepEqual(errorsOf(await noColumn.doctor()), ['column.missing'])
      })

      it('refuses a search_path schema that does not exist', async () => {
        assert.deepEqual(await checksAfter(() => undefined, { searchPath: ['public', 'no_such_schema'] }), ['search_path.missing'])
      })
    })

    describe('objects that return tenant rows past the policy', () => {
      it('refuses a view without security_invoker over a tenant table, and accepts it with', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create view ${table}_all as select * from ${table}; grant select on ${table}_all to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['view.definer'])
        // Through another view too.
        await database.pool.query(`alter view ${table}_all set (security_invoker = true); create view ${table}_outer as select * from ${table}_all; grant select on ${table}_outer to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['view.definer'])
        await database.pool.query(`alter view ${table}_outer set (security_invoker = true)`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
      })

      it('ignores a view the runtime role cannot read', async () => {
        assert.deepEqual(await checksAfter((t) => `create view ${t}_hidden as select * from ${t}`), [])
      })

      it('refuses a materialized view over a tenant table the runtime role can read', async () => {
        assert.deepEqual(await checksAfter((t) => `create materialized view ${t}_mv as select * from ${t}; grant select on ${t}_mv to ${role}`), ['view.materialized'])
      })

      it('refuses a SECURITY DEFINER function the runtime role may call, unless listed as trusted', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create function ${table}_count() returns bigint language sql security definer as $$ select count(*) from ${table} $$`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['function.definer'])
        const trusting = new SharedSchemaIsolation(database, { tables: [table], runtimeRole: role, trustedFunctions: [`public.${table}_count()`] })
        assert.deepEqual(errorsOf(await trusting.doctor()), [])
        // Trust is by signature: an overload of the same name is not trusted.
        await database.pool.query(`create function ${table}_count(int) returns bigint language sql security definer as $$ select count(*) from ${table} $$`)
        assert.deepEqual(errorsOf(await trusting.doctor()), ['function.definer'])
        assert.throws(() => new SharedSchemaIsolation(database, { tables: [table], trustedFunctions: [`public.${table}_count`] }), { code: 'VALIDATION_FAILED' })
        await database.pool.query(`drop function ${table}_count(); drop function ${table}_count(int)`)
      })

      it('refuses a definer function in the guard\'s schema that is not the guard', async () => {
        assert.deepEqual(await checksAfter((t) => `create function tenantry_guard.peek() returns bigint language sql security definer as $$ select count(*) from public.${t} $$`), ['function.definer'])
        await database.pool.query('drop function tenantry_guard.peek()')
      })

      it('refuses a LEAKPROOF function the runtime role may call', async () => {
        assert.deepEqual(await checksAfter(() => `create function chatty(text) returns boolean language sql immutable leakproof as $$ select true $$`), ['function.leakproof'])
        await database.pool.query('drop function chatty(text)')
      })

      it('refuses a table that shadows a tenant table on the search_path', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create schema ext_${table}; create table ext_${table}.${table} (id int)`)
        const shadowed = new SharedSchemaIsolation(database, { tables: [table], runtimeRole: role, searchPath: [`ext_${table}`, 'public'] })
        assert.deepEqual(errorsOf(await shadowed.doctor()), ['search_path.shadow'])
        assert.deepEqual(errorsOf(await shared.doctor()), [], 'not on the search_path, it shadows nothing')
        await database.pool.query(`drop schema ext_${table} cascade`)
      })

      it('refuses a table the runtime role reads with no policy, unless it is a global table', async () => {
        const { table, shared } = await installed()
        await database.pool.query(`create table ${table}_loose (secret text); grant select on ${table}_loose to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['table.unprotected'])
        const withGlobal = new SharedSchemaIsolation(database, { tables: [table], globalTables: [`${table}_loose`], runtimeRole: role })
        assert.deepEqual(errorsOf(await withGlobal.doctor()), [])
        await database.pool.query(`drop table ${table}_loose`)
      })

      it('warns of large objects the runtime role could use, and refuses them once some are stored', async () => {
        const { shared } = await installed()
        await database.pool.query(`grant execute on function lo_get(oid) to public`)
        try {
          const none = await shared.doctor()
          assert.deepEqual(none.findings.filter((f) => f.check === 'largeobject.reachable').map((f) => f.severity), ['warning'])
          if (backend.name === 'postgres') {
            const { rows } = await database.pool.query<{ oid: number }>(`select lo_from_bytea(0, 'x') as oid`)
            assert.ok(errorsOf(await shared.doctor()).includes('largeobject.reachable'))
            await database.pool.query('select lo_unlink($1)', [rows[0]!.oid])
          }
        } finally {
          await database.pool.query('revoke execute on function lo_get(oid) from public')
        }
      })

      it('takes pg_cancel_backend and pg_terminate_backend from PUBLIC (tenants share the runtime role, which may signal its own backends), and warns when they are back', async () => {
        const { shared } = await installed()
        assert.deepEqual((await shared.doctor()).findings.filter((f) => f.check === 'signal.reachable'), [])
        const client = await database.pool.connect()
        try {
          await client.query('begin')
          await client.query(`set local role ${role}`)
          await assert.rejects(client.query('select pg_cancel_backend(pg_backend_pid())'), /permission denied/)
          await client.query('rollback')
          await client.query('begin')
          await client.query(`set local role ${role}`)
          await assert.rejects(client.query('select pg_terminate_backend(pg_backend_pid())'), /permission denied/)
          await client.query('rollback')
        } finally {
          client.release()
        }
        await database.pool.query('grant execute on function pg_cancel_backend(integer) to public')
        try {
          assert.deepEqual((await shared.doctor()).findings.filter((f) => f.check === 'signal.reachable').map((f) => f.severity), ['warning'])
          await shared.install()
          assert.deepEqual((await shared.doctor()).findings.filter((f) => f.check === 'signal.reachable'), [])
        } finally {
          await database.pool.query('revoke execute on function pg_cancel_backend(integer) from public')
        }
      })

      it('protects the partitions of a tenant table too, so one read directly is still scoped', async () => {
        const table = `t${fixture.next()}`
        const shared = await partitionedShared(fixture, table)
        await database.pool.query(`grant select on ${table}_p0, ${table}_p1 to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
        await database.pool.query(`drop policy tenantry_tenant_isolation on ${table}_p0`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['rls.policy'])
        await database.pool.query(`revoke select on ${table}_p0 from ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), [], 'a partition the runtime role cannot reach needs no policy of its own')
      })

      it('protects an inheritance child of a tenant table read directly', async () => {
        const { table, shared } = await installed({}, 'create table $t_child () inherits ($t)')
        await database.pool.query(`grant select on ${table}_child to ${role}`)
        assert.deepEqual(errorsOf(await shared.doctor()), [])
        await database.pool.query(`alter table ${table}_child no force row level security`)
        assert.deepEqual(errorsOf(await shared.doctor()), ['rls.not_forced'])
      })
    })

    it('makes assertSafe() throw ISOLATION_MISCONFIGURED with every finding and its fix', async () => {
      const table = `t${fixture.next()}`
      await database.pool.query(`create table ${table} (id int primary key, tenant_id uuid)`)
      const shared = new SharedSchemaIsolation(database, { tables: [table], runtimeRole: role })
      await assert.rejects(shared.assertSafe(), (e: unknown) => {
        assert.ok(isTenantryError(e, 'ISOLATION_MISCONFIGURED'))
        const checks = (e.details as { check: string; fix?: string }[]).map((d) => d.check).sort()
        assert.deepEqual(checks, ['column.nullable', 'index.global_unique', 'index.missing', 'rls.disabled', 'rls.not_forced', 'rls.policy'])
        assert.ok((e.details as { fix?: string }[]).every((d) => typeof d.fix === 'string'))
        return true
      })
    })

    describe('schema per tenant', () => {
      let schemas: SchemaPerTenantIsolation
      let a: ScopedTenant
      let b: ScopedTenant

      before(async () => {
        schemas = await installedSchemas(fixture)
        a = await provisioned(schemas, tenant('schema-a', 'schema'), projectsTable)
        b = await provisioned(schemas, tenant('schema-b', 'schema'), projectsTable)
      })

      it('passes the tenant schemas provision() set up', async () => {
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
      })

      it('refuses a tenant table without its policy, with another tenant\'s, or with RLS off', async () => {
        const schema = a.placement!.schema!
        await database.pool.query(`alter table ${schema}.projects no force row level security`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['rls.not_forced'])
        await database.pool.query(`alter table ${schema}.projects force row level security;
          drop policy tenantry_schema_tenant on ${schema}.projects;
          create policy tenantry_schema_tenant on ${schema}.projects using ((select tenantry_guard.tenant()) = '${b.id}'::uuid)`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['rls.policy'])
        await schemas.installWalls(database.pool, a)
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
        const db: Kysely<{ projects: { id: number; name: string } }> = schemas.kysely()
        assert.deepEqual(await runWithTenant(a, () => db.selectFrom('projects').selectAll().execute()), [])
      })

      it('refuses a table added to a tenant schema without its walls', async () => {
        await database.pool.query(`create table ${b.placement!.schema!}.extra (id int generated always as identity primary key)`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['rls.disabled', 'rls.not_forced', 'rls.policy'])
        await schemas.installWalls(database.pool, b)
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
      })

      it('refuses sequences of tenant schemas the runtime role may use, and serial columns that would need them', async () => {
        const schema = a.placement!.schema!
        await database.pool.query(`alter table ${schema}.projects add column n serial`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['sequence.serial'])
        await database.pool.query(`grant usage on sequence ${schema}.projects_n_seq to ${role}`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['sequence.reachable', 'sequence.serial'])
        await database.pool.query(`alter table ${schema}.projects drop column n`)
        assert.deepEqual(errorsOf(await schemas.doctor()), [])
      })

      it('finds a tenant schema by its walls when no catalog names it', async () => {
        const custom: ScopedTenant = { ...tenant('schema-custom', 'schema'), placement: { schema: `custom_${fixture.tableNo}` } }
        await schemas.provision(custom, async (c) => { await c.query('create table projects (id int generated always as identity primary key)') })
        await database.pool.query(`create table custom_${fixture.tableNo}.added (id int); grant select on custom_${fixture.tableNo}.added to ${role}`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['rls.disabled', 'rls.not_forced', 'rls.policy'])
        await database.pool.query(`drop schema custom_${fixture.tableNo} cascade`)
      })

      it('refuses a view over a tenant schema the runtime role can read', async () => {
        await database.pool.query(`create view public.all_projects as select * from ${a.placement!.schema!}.projects union all select * from ${b.placement!.schema!}.projects;
          grant select on public.all_projects to ${role}`)
        assert.deepEqual(errorsOf(await schemas.doctor()), ['view.definer'])
        await database.pool.query('drop view public.all_projects')
      })
    })
  })
}
