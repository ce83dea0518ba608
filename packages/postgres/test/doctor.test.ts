import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { SharedSchemaIsolation, type SharedSchemaOptions } from '@tenantry/postgres'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '../../../test/support/backends.ts'

for (const backend of testBackends()) {
  describe(`doctor on ${backend.name}`, () => {
    let database: TestDatabase
    const role = uniqueName('tenantry_app')
    const roles: string[] = [role]
    let tableNo = 0

    before(async () => {
      database = await backend.createDatabase()
    })
    after(async () => {
      await dropRoles(database, roles)
      await database.close()
    })

    /** A fresh tenant table, installed, then broken by `breakIt`; returns the doctor's failed checks. */
    async function checksAfter(breakIt: (table: string) => string | undefined, options: Partial<SharedSchemaOptions> = {}): Promise<string[]> {
      const table = `t${++tableNo}`
      await database.pool.query(`create table ${table} (id int primary key, tenant_id uuid not null); create index on ${table} (tenant_id)`)
      const shared = new SharedSchemaIsolation(database, { tables: [table], runtimeRole: role, ...options })
      await shared.install()
      const breaking = breakIt(table)
      if (breaking) await database.pool.query(breaking)
      const report = await shared.doctor()
      return report.findings.filter((f) => f.severity === 'error').map((f) => f.check)
    }

    it('passes a table that install() set up', async () => {
      assert.deepEqual(await checksAfter(() => undefined), [])
    })

    it('refuses a runtime role that is superuser', async () => {
      const su = uniqueName('tenantry_su')
      roles.push(su)
      await database.pool.query(`create role ${su} superuser nologin`)
      assert.ok((await checksAfter(() => undefined, { runtimeRole: su })).includes('role.superuser'))
    })

    it('refuses a runtime role with BYPASSRLS', async () => {
      const bypass = uniqueName('tenantry_bypass')
      roles.push(bypass)
      await database.pool.query(`create role ${bypass} bypassrls nologin`)
      assert.ok((await checksAfter(() => undefined, { runtimeRole: bypass })).includes('role.bypassrls'))
    })

    it('refuses a runtime role that owns a tenant table', async () => {
      assert.ok((await checksAfter((t) => `alter table ${t} owner to ${role}`)).includes('role.owner'))
    })

    it('refuses a table whose RLS is not forced', async () => {
      assert.deepEqual(await checksAfter((t) => `alter table ${t} no force row level security`), ['rls.not_forced'])
    })

    it('refuses a table with RLS disabled', async () => {
      assert.ok((await checksAfter((t) => `alter table ${t} disable row level security`)).includes('rls.disabled'))
    })

    it('refuses a table without the tenant policy', async () => {
      assert.deepEqual(await checksAfter((t) => `drop policy tenantry_tenant_isolation on ${t}`), ['rls.policy'])
    })

    it('refuses an extra permissive policy that does not check the tenant', async () => {
      assert.deepEqual(await checksAfter((t) => `create policy open_all on ${t} for select using (true)`), ['rls.extra_permissive'])
    })

    it('accepts an extra restrictive policy', async () => {
      assert.deepEqual(await checksAfter((t) => `create policy only_small on ${t} as restrictive for select using (id < 1000)`), [])
    })

    it('refuses a tenant table without an index leading with tenant_id', async () => {
      assert.deepEqual(await checksAfter((t) => `drop index ${t}_tenant_id_idx`), ['index.missing'])
    })

    it('refuses a nullable tenant column', async () => {
      assert.deepEqual(await checksAfter((t) => `alter table ${t} alter column tenant_id drop not null`), ['column.nullable'])
    })

    it('refuses a missing tenant table and a missing tenant column', async () => {
      const shared = new SharedSchemaIsolation(database, { tables: ['no_such_table'], runtimeRole: role, walls: { plugin: true, rls: false } })
      assert.deepEqual((await shared.doctor()).findings.filter((f) => f.severity === 'error').map((f) => f.check), ['table.missing'])
      await database.pool.query('create table no_tenant (id int primary key)')
      const noColumn = new SharedSchemaIsolation(database, { tables: ['no_tenant'], runtimeRole: role, walls: { plugin: true, rls: false } })
      assert.deepEqual((await noColumn.doctor()).findings.filter((f) => f.severity === 'error').map((f) => f.check), ['column.missing'])
    })

    it('makes assertSafe() throw ISOLATION_MISCONFIGURED with every finding and its fix', async () => {
      const table = `t${++tableNo}`
      await database.pool.query(`create table ${table} (id int primary key, tenant_id uuid)`)
      const shared = new SharedSchemaIsolation(database, { tables: [table], runtimeRole: role })
      await assert.rejects(shared.assertSafe(), (e: unknown) => {
        assert.ok(isTenantryError(e, 'ISOLATION_MISCONFIGURED'))
        const checks = (e.details as { check: string; fix?: string }[]).map((d) => d.check).sort()
        assert.deepEqual(checks, ['column.nullable', 'index.missing', 'rls.disabled', 'rls.not_forced', 'rls.policy'])
        assert.ok((e.details as { fix?: string }[]).every((d) => typeof d.fix === 'string'))
        return true
      })
    })
  })
}
