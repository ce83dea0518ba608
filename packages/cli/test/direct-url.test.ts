/**
 * `database.directUrl`: the owner's way around a transaction pooler. The
 * config check (what it accepts, what it refuses and why, before anything
 * opens), and `tenantry migrate` with it on PostgreSQL (with TENANTRY_PG_URL):
 * the run goes to directUrl, and without it the command refuses, naming it.
 * Through a real PgBouncer: packages/postgres/test/pgbouncer.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { checkConfig, createTenantry } from '../src/index.ts'
import { runTenantry } from './support/run-cli.ts'

const models = { shared: { tables: ['notes'] } }
/** Nothing listens on port 1: a check that connected would fail with ECONNREFUSED instead. */
const pooled = 'postgres://app@127.0.0.1:1/app'
const direct = 'postgres://owner@127.0.0.1:2/app'

/** The `config.…` paths checkConfig reports for `database` (and the rest of a minimal config), with their messages. */
function issuesOf(database: unknown, rest: Record<string, unknown> = {}): Map<string, string> {
  try {
    checkConfig({ database, models, ...rest })
    return new Map()
  } catch (error) {
    assert.ok(isTenantryError(error, 'VALIDATION_FAILED'), String(error))
    return new Map((error.details as { path: string; message: string }[]).map((d) => [d.path, d.message]))
  }
}

describe('database.directUrl in the config', () => {
  it('lets migrate and install stay on behind a transaction pooler when directUrl gives the owner a session', () => {
    assert.deepEqual([...issuesOf({ url: pooled, pooler: 'transaction', directUrl: direct }).keys()], [])
    assert.deepEqual([...issuesOf({ url: pooled, pooler: 'transaction', directUrl: direct }, { migrate: true, install: true }).keys()], [])
    // Without a pooler it is allowed too (a session-mode pool in front, say): owner work still goes to directUrl.
    assert.deepEqual([...issuesOf({ url: pooled, directUrl: direct }).keys()], [])
  })

  it('refuses migrate and install behind a transaction pooler without directUrl, saying to set it', () => {
    const issues = issuesOf({ url: pooled, pooler: 'transaction' })
    assert.deepEqual([...issues.keys()].sort(), ['config.install', 'config.migrate'])
    for (const message of issues.values()) {
      assert.match(message, /need a session/)
      assert.match(message, /set database\.directUrl/)
      assert.match(message, /PostgreSQL directly/)
    }
    assert.deepEqual([...issuesOf({ url: pooled, pooler: 'transaction' }, { migrate: false, install: false }).keys()], [])
  })

  it('refuses a directUrl that is not a postgres:// URL, is url itself, or has no url beside it', () => {
    for (const [database, message] of [
      [{ url: pooled, pooler: 'transaction', directUrl: 'mysql://owner@db/app' }, /must be a postgres:\/\/ URL/],
      [{ url: pooled, pooler: 'transaction', directUrl: 42 }, /must be a postgres:\/\/ URL/],
      [{ url: pooled, pooler: 'transaction', directUrl: pooled }, /must not be url itself/],
      [{ embedded: 'memory', directUrl: direct }, /goes with url/],
    ] as const) {
      const issues = issuesOf(database, { migrate: false, install: false })
      assert.match(issues.get('config.database.directUrl') ?? '(no issue)', message, JSON.stringify(database))
    }
  })

  it('refuses before connecting anything (createTenantry)', async () => {
    await assert.rejects(createTenantry({ database: { url: pooled, pooler: 'transaction', directUrl: 'nope' }, models }), (error: unknown) => {
      assert.ok(isTenantryError(error, 'VALIDATION_FAILED'), String(error))
      assert.doesNotMatch(error.message, /ECONNREFUSED/)
      assert.match(error.message, /config\.database\.directUrl must be a postgres:\/\/ URL/)
      return true
    })
  })
})

const postgres = testBackends().find((b) => b.name === 'postgres')

describe('tenantry migrate with database.directUrl', { skip: postgres === undefined ? 'TENANTRY_PG_URL is not set' : undefined }, () => {
  let database: TestDatabase
  let dir: string
  const role = uniqueName('tenantry_du_cli')

  before(async () => {
    database = await postgres!.createDatabase()
    dir = await mkdtemp(join(tmpdir(), 'tenantry-direct-url-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
    const roles = await database.pool.query<{ rolname: string }>('select rolname from pg_roles where rolname = $1', [role])
    await dropRoles(database, roles.rows.map((r) => r.rolname))
    await database.close()
  })

  /** A config module: url declared a transaction pooler (here a second spelling of the server's URL), directUrl or not. */
  async function configFile(name: string, directUrl: string | undefined): Promise<string> {
    const url = new URL(database.url!)
    url.searchParams.set('application_name', 'tenantry_app_path')
    const config = {
      database: { url: url.toString(), pooler: 'transaction', ...(directUrl === undefined ? {} : { directUrl }) },
      models,
      migrations: { tenant: [{ id: '0001_notes', up: 'create table notes (tenant_id uuid not null, id int generated always as identity, body text not null, primary key (tenant_id, id))' }] },
      runtimeRole: role,
      migrate: false,
      install: false,
    }
    const file = join(dir, `${name}.config.mjs`)
    await writeFile(file, `export default ${JSON.stringify(config)}\n`)
    return file
  }

  const notesTable = async (): Promise<boolean> =>
    (await database.pool.query<{ found: boolean }>("select to_regclass('public.notes') is not null as found")).rows[0]!.found

  it('refuses without directUrl before connecting, naming directUrl, and migrates with it', async () => {
    const refused = await runTenantry(['migrate', '-c', await configFile('without', undefined)], {}).done
    assert.equal(refused.code, 2, refused.err)
    assert.match(refused.err, /error VALIDATION_FAILED: .*needs a session.*set database\.directUrl/)
    assert.equal(await notesTable(), false, 'nothing ran')
    assert.equal((await database.pool.query("select to_regnamespace('tenantry') is null as none")).rows[0].none, true, 'not even the catalog was installed')

    const ran = await runTenantry(['migrate', '-c', await configFile('with', database.url!)], {}).done
    assert.equal(ran.code, 0, ran.err)
    assert.equal(await notesTable(), true)
    const { rows } = await database.pool.query<{ id: string }>("select migration_id as id from tenantry.migrations where status = 'applied'")
    assert.deepEqual(rows.map((r) => r.id), ['0001_notes'])
  })
})
