/**
 * The ops commands as a user runs them (own processes, the fleet fixture's
 * config): tenants create|list|show|suspend|resume|delete, keys
 * create|list|revoke and doctor, each with --json and as a table, with the
 * exit codes scripts rely on (0 done, 1 refused or failed, 2 bad usage).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTenantry, type TenantryConfig } from '../src/index.ts'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { runTenantry, type Run } from './support/run-cli.ts'

const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url))
const config = join(fixtures, 'fleet.config.ts')

for (const backend of testBackends()) {
  describe(`tenantry tenants / keys / doctor (CLI processes) on ${backend.name}`, () => {
    let database: TestDatabase | undefined
    let dataDir: string | undefined
    let env: Record<string, string>
    const role = uniqueName('tenantry_ops')
    const cli = (...args: string[]): Promise<Run> => runTenantry([...args, '--config', config], env).done
    /** The fixture's config in this process, opened without changing anything. */
    const open = async () => {
      Object.assign(process.env, env)
      const made = (await import(config)).default as () => TenantryConfig
      return createTenantry({ ...made(), migrate: false, install: false, doctor: 'off' })
    }
    const json = (run: Run): any => {
      assert.equal(run.code, 0, `${run.err}\n${run.out}`)
      return JSON.parse(run.out)
    }

    before(async () => {
      if (backend.name === 'postgres') {
        database = await backend.createDatabase()
        env = { TENANTRY_TEST_URL: database.url!, TENANTRY_TEST_ROLE: role, TENANTRY_TEST_MIGRATIONS: join(fixtures, 'v1') }
      } else {
        dataDir = await mkdtemp(join(tmpdir(), 'tenantry-ops-'))
        env = { TENANTRY_TEST_DATA_DIR: dataDir, TENANTRY_TEST_ROLE: role, TENANTRY_TEST_MIGRATIONS: join(fixtures, 'v1') }
      }
      assert.equal((await cli('migrate', '--json')).code, 0)
    })

    after(async () => {
      if (database) {
        const dbs = await database.pool.query<{ database: string }>(`select placement->>'database' as database from tenantry.tenants where isolation = 'database'`)
        for (const row of dbs.rows) await database.pool.query(`drop database if exists "${row.database}" with (force)`).catch(() => undefined)
        const roles = await database.pool.query<{ rolname: string }>('select rolname from pg_roles where rolname = $1 or rolname like $2', [role, `${role}\\_%`])
        await dropRoles(database, roles.rows.map((r) => r.rolname))
        await database.close()
      }
      if (dataDir) await rm(dataDir, { recursive: true, force: true })
    })

    it('creates, lists, shows, suspends, resumes and deletes tenants', async () => {
      const created = json(await cli('tenants', 'create', 'umbrella', '--name', 'Umbrella Corp', '--isolation', 'schema', '--domain', 'umbrella.example.com', '--json'))
      assert.equal(created.slug, 'umbrella')
      assert.equal(created.status, 'active')
      assert.equal(created.isolation, 'schema')
      assert.match(created.placement.schema, /^tenant_[0-9a-f]{32}$/)
      const table = await cli('tenants', 'create', 'hooli', '--name', 'Hooli', '--isolation', 'database')
      assert.equal(table.code, 0, table.err)
      assert.match(table.out, /^created hooli \(database, free\)$/m)

      const listed = await cli('tenants', 'list')
      assert.equal(listed.code, 0, listed.err)
      const lines = listed.out.trim().split('\n')
      assert.match(lines[0]!, /^slug\s+name\s+status\s+plan\s+isolation\s+domains\s+created$/)
      assert.match(listed.out, /^umbrella\s+Umbrella Corp\s+active\s+free\s+schema\s+umbrella\.example\.com\s+\d{4}-/m)
      assert.deepEqual(json(await cli('tenants', 'list', '--json')).items.map((t: { slug: string }) => t.slug), ['umbrella', 'hooli'])

      const shown = await cli('tenants', 'show', 'umbrella')
      assert.match(shown.out, /^placement:\s+schema=tenant_[0-9a-f]{32}$/m)
      assert.equal(json(await cli('tenants', 'show', created.id, '--json')).slug, 'umbrella', 'a tenant is named by id too')

      assert.equal(json(await cli('tenants', 'suspend', 'umbrella', '--reason', 'unpaid invoice', '--json')).status, 'suspended')
      const again = await cli('tenants', 'suspend', 'umbrella')
      assert.equal(again.code, 1)
      assert.match(again.err, /^error CONFLICT: /m)
      assert.equal(json(await cli('tenants', 'resume', 'umbrella', '--json')).status, 'active')

      const refused = await cli('tenants', 'delete', 'hooli')
      assert.equal(refused.code, 2)
      assert.match(refused.err, /--yes/)
      assert.equal(json(await cli('tenants', 'show', 'hooli', '--json')).status, 'active', 'nothing was deleted without --yes')
      assert.match((await cli('tenants', 'delete', 'hooli', '--yes')).out, /deleted hooli/)
      const gone = await cli('tenants', 'show', 'hooli')
      assert.equal(gone.code, 1)
      assert.match(gone.err, /TENANT_NOT_FOUND/)
      assert.deepEqual(json(await cli('tenants', 'list', '--status', 'deleted', '--json')).items.map((t: { slug: string }) => t.slug), ['hooli'])

      // The audit trail names who did it.
      const tenantry = await open()
      try {
        const audit = await tenantry.catalog.listAudit({ tenantId: created.id })
        const suspend = audit.find((a) => (a.details as { to?: string }).to === 'suspended')
        assert.match(String(suspend?.actor), /^cli:/)
        assert.equal(suspend?.reason, 'unpaid invoice')
      } finally {
        await tenantry.close()
      }
    })

    it('creates a key (shown once), lists keys without secrets, revokes one', async () => {
      const made = json(await cli('keys', 'create', 'umbrella', '--name', 'ci', '--json'))
      assert.match(made.key, /^tnt_/)
      const plain = await cli('keys', 'create', 'umbrella')
      assert.match(plain.out, /^tnt_\S+\n$/, 'only the key on stdout, for $(…)')
      assert.match(plain.err, /not shown again/)
      const listed = await cli('keys', 'list', 'umbrella')
      assert.match(listed.out, /^id\s+name\s+prefix\s+created\s+last used\s+revoked$/m)
      assert.ok(!listed.out.includes(made.key))
      const items = json(await cli('keys', 'list', 'umbrella', '--json')).items as { id: string; revoked_at: string | null }[]
      assert.equal(items.length, 2)
      const revoked = json(await cli('keys', 'revoke', 'umbrella', made.id, '--json'))
      assert.match(revoked.revoked_at, /^\d{4}-/)
      const other = await cli('keys', 'revoke', 'acme-nobody', made.id)
      assert.equal(other.code, 1)
      assert.match(other.err, /TENANT_NOT_FOUND/)
    })

    it('runs doctor: 0 when safe, 1 with the findings and their fixes when not', async () => {
      const ok = await cli('doctor')
      assert.equal(ok.code, 0, ok.out + ok.err)
      assert.match(ok.out, /^ok: 0 errors, \d+ warnings?$/m)
      assert.equal(json(await cli('doctor', '--json')).ok, true)
      const owner = database?.pool
      const unsafe = "create function public.peek_projects() returns bigint language sql security definer as 'select count(*) from public.projects'"
      if (owner) await owner.query(unsafe)
      else {
        const tenantry = await open()
        await tenantry.target.pool.query(unsafe)
        await tenantry.close()
      }
      const refused = await cli('doctor', '--fixes')
      assert.equal(refused.code, 1)
      assert.match(refused.out, /^error\s+shared\s+function\.definer\s+/m)
      assert.match(refused.out, /^REFUSED: [1-9]\d* errors?, /m)
      assert.match(refused.out, /revoke execute on function/i)
      const report = JSON.parse((await cli('doctor', '--json')).out)
      assert.equal(report.ok, false)
      assert.ok(report.findings.some((f: { check: string; model: string }) => f.check === 'function.definer' && f.model === 'shared'))
    })
  })
}
