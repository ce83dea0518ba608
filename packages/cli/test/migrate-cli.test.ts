import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runTenantry } from './support/run-cli.ts'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { createTenantry, type Tenantry, type TenantryConfig } from '../src/index.ts'

const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url))
const config = join(fixtures, 'fleet.config.ts')
const tenantry = (args: readonly string[], env: Record<string, string>) => runTenantry([...args, '--config', config], env)

for (const backend of testBackends()) {
  describe(`tenantry migrate (CLI processes) on ${backend.name}`, () => {
    let database: TestDatabase | undefined
    let dataDir: string | undefined
    let env: Record<string, string>
    const role = uniqueName('tenantry_cli')
    const slugs = Array.from({ length: 7 }, (_, i) => `schema-${i}`).concat(['db-0', 'db-1'])
    const targets = slugs.length + 1 // and the shared tables

    async function inProcess<T>(migrations: 'v1' | 'v2', work: (tenantry: Tenantry) => Promise<T>): Promise<T> {
      Object.assign(process.env, env, { TENANTRY_TEST_MIGRATIONS: join(fixtures, migrations) })
      const made = (await import(config)).default as () => TenantryConfig
      // As an app starts: migrates the fleet, installs the walls, runs doctor.
      const tenantry = await createTenantry(made())
      try {
        return await work(tenantry)
      } finally {
        await tenantry.close()
      }
    }

    before(async () => {
      if (backend.name === 'postgres') {
        database = await backend.createDatabase()
        env = { TENANTRY_TEST_URL: database.url!, TENANTRY_TEST_ROLE: role }
      } else {
        dataDir = await mkdtemp(join(tmpdir(), 'tenantry-cli-'))
        env = { TENANTRY_TEST_DATA_DIR: dataDir, TENANTRY_TEST_ROLE: role }
      }
      await inProcess('v1', async ({ tenants }) => {
        await tenants.create({ slug: 'acme', name: 'Acme', isolation: 'shared' })
        for (const slug of slugs) await tenants.create({ slug, name: slug, isolation: slug.startsWith('db') ? 'database' : 'schema' })
      })
    })

    after(async () => {
      if (database) {
        const dbs = await database.pool.query<{ database: string }>(`select placement->>'database' as database from tenantry.tenants where isolation = 'database'`)
        for (const row of dbs.rows) await database.pool.query(`drop database if exists "${row.database}" with (force)`).catch(() => undefined)
        // The runtime role and the tenant databases' own roles (`<role>_<tenant id>`).
        const roles = await database.pool.query<{ rolname: string }>(`select rolname from pg_roles where rolname = $1 or rolname like $2`, [role, `${role}\\_%`])
        await dropRoles(database, roles.rows.map((r) => r.rolname))
        await database.close()
      }
      if (dataDir) await rm(dataDir, { recursive: true, force: true })
    })

    it('is killed mid-run, and a rerun applies exactly what is pending', async () => {
      const v2 = { ...env, TENANTRY_TEST_MIGRATIONS: join(fixtures, 'v2') }
      const first = tenantry(['migrate', '--plain', '--progress-every', '0', '--concurrency', '2'], v2)
      let reported = 0
      for await (const line of first.lines) {
        const match = /^(\d+)\/(\d+) targets/.exec(line)
        if (match && Number(match[1]) >= 4) {
          reported = Number(match[1])
          if (database) {
            // Freeze the run (see fixtures/v2/0002_tasks.ts): a second runner is turned away meanwhile.
            const gate = database.newPool()
            await gate.query('select pg_advisory_lock(4242)')
            const second = await tenantry(['migrate', '--plain'], v2).done
            first.child.kill('SIGKILL')
            await first.done
            await gate.query('select pg_advisory_unlock(4242)')
            assert.equal(second.code, 1, second.err)
            assert.match(second.err, /MIGRATION_LOCKED: Another migration runner holds the fleet lock \(pid \d+ \(tenantry migrate\)/)
          } else first.child.kill('SIGKILL')
          break
        }
      }
      const killed = await first.done
      assert.equal(killed.signal, 'SIGKILL', `the runner was killed mid-run (stdout: ${killed.out} stderr: ${killed.err})`)
      // Targets may have finished between the line read above and the kill: count every line printed.
      reported = Math.max(...[...killed.out.matchAll(/^(\d+)\/\d+ targets/gm)].map((m) => Number(m[1])))
      assert.ok(reported >= 4 && reported < targets, `killed after ${reported} of ${targets}`)

      const rerun = await tenantry(['migrate', '--json'], v2).done
      assert.equal(rerun.code, 0, rerun.err)
      const summary = JSON.parse(rerun.out.trim().split('\n').at(-1)!) as { ok: boolean; migrated: number; current: number; visited: number }
      assert.equal(summary.ok, true)
      // Targets done before the kill are not visited again; one in flight at the kill may have committed.
      assert.ok(summary.migrated + reported <= targets, `rerun migrated ${summary.migrated} after ${reported} were reported`)
      // Targets in flight at the kill may have committed without a line (up to --concurrency of them):
      // the status below proves every target is at the head.
      assert.ok(summary.migrated + summary.current + reported + 2 >= targets, 'every pending target was migrated')

      const status = await tenantry(['migrate', 'status', '--json'], v2).done
      assert.equal(status.code, 0, status.err)
      const parsed = JSON.parse(status.out) as { targets: number; tenant: { id: string; applied: number; pending: number; failed: number }[] }
      assert.equal(parsed.targets, targets)
      assert.deepEqual(parsed.tenant.map((r) => [r.id, r.applied, r.pending, r.failed]), [['0001_projects', targets, 0, 0], ['0002_tasks', targets, 0, 0]])
      const again = await tenantry(['migrate', '--json'], v2).done
      assert.equal(JSON.parse(again.out.trim().split('\n').at(-1)!).visited, 0)
    })

    it('prints status as a table, and rolls one tenant back with migrate down', async () => {
      const v2 = { ...env, TENANTRY_TEST_MIGRATIONS: join(fixtures, 'v2') }
      const down = await tenantry(['migrate', 'down', '--to', '0001_projects', '--tenant', 'schema-3', '--json'], v2).done
      assert.equal(down.code, 0, down.err)
      // With --json, stdout is the summary alone; the progress lines (rolling back) go to stderr.
      assert.equal(JSON.parse(down.out).ok, true, down.out)
      assert.match(down.err, /1 target to roll back/)
      const refused = await tenantry(['migrate', 'down', '--to', '0001_projects'], v2).done
      assert.equal(refused.code, 2)
      assert.match(refused.err, /needs a scope/)
      const status = await tenantry(['migrate', 'status'], v2).done
      assert.equal(status.code, 0, status.err)
      assert.match(status.out, /migration\s+applied\s+pending\s+failed/)
      assert.match(status.out, new RegExp(`0002_tasks\\s+${targets - 1}\\s+1\\s+0`))
      assert.match(status.out, /no failed targets/)
    })
  })
}
