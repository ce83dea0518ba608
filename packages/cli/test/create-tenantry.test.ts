/**
 * createTenantry, the one setup entry, on embedded PGlite and (with
 * TENANTRY_PG_URL) PostgreSQL: from a config to scoped queries in all three
 * models, the config refused before anything opens, doctor refusing an unsafe
 * database, migrations at start, plans, resolution for the adapters, close().
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runAsSystem, runWithTenant, type TenantRequest } from '@tenantry/core'
import type { Generated } from 'kysely'
import { createTenantry, type Tenantry, type TenantryConfig } from '../src/index.ts'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '@tenantry/test-kit'
import { runTenantry } from './support/run-cli.ts'

interface Db {
  notes: { id: Generated<number>; body: string }
}

const notesMigration = {
  id: '0001_notes',
  up: async ({ client, model }: { client: { query(sql: string): Promise<unknown> }; model: string }) => {
    const tenant = model === 'shared' ? 'tenant_id uuid not null, ' : ''
    const key = model === 'shared' ? 'primary key (tenant_id, id)' : 'primary key (id)'
    await client.query(`create table notes (${tenant}id int generated always as identity, body text not null, ${key})`)
  },
}

const request = (headers: Record<string, string>, host = 'api.example.com'): TenantRequest => ({ host, path: '/api/notes', headers })

for (const backend of testBackends()) {
  describe(`createTenantry on ${backend.name}`, () => {
    let database: TestDatabase | undefined
    let dataDir: string
    const role = uniqueName('tenantry_ct')
    let base: TenantryConfig

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'tenantry-ct-'))
      if (backend.name === 'postgres') database = await backend.createDatabase()
      base = {
        database: database ? database.url! : { embedded: join(dataDir, 'data') },
        models: { shared: { tables: ['notes'] }, schema: true, database: true },
        migrations: { tenant: [notesMigration] },
        runtimeRole: role,
        onWarning: () => undefined,
      }
    })

    after(async () => {
      if (database) {
        // What offboarding did not drop: the tenant databases and the per-tenant roles.
        const dbs = await database.pool.query<{ database: string }>(`select placement->>'database' as database from tenantry.tenants where isolation = 'database'`).catch(() => ({ rows: [] }))
        for (const row of dbs.rows) await database.pool.query(`drop database if exists "${row.database}" with (force)`).catch(() => undefined)
        const roles = await database.pool.query<{ rolname: string }>('select rolname from pg_roles where rolname = $1 or rolname like $2', [role, `${role}\\_%`])
        await dropRoles(database, roles.rows.map((r) => r.rolname))
        await database.close()
      }
      await rm(dataDir, { recursive: true, force: true })
    })

    it('from one config: migrates, installs, and scopes every query in all three models', async () => {
      const tenantry: Tenantry<Db> = await createTenantry<Db>(base)
      try {
        assert.equal(tenantry.migration?.ok, true)
        assert.equal((await tenantry.doctor()).ok, true)
        const made = []
        for (const isolation of ['shared', 'schema', 'database'] as const) {
          for (const n of [1, 2]) made.push(await tenantry.tenants.create({ slug: `${isolation}-${n}`, name: `${isolation} ${n}`, isolation }))
        }
        for (const tenant of made) {
          await runWithTenant(tenant, () => tenantry.db.insertInto('notes').values({ body: `note of ${tenant.slug}` }).execute())
        }
        for (const tenant of made) {
          const rows = await runWithTenant(tenant, () => tenantry.db.selectFrom('notes').select('body').execute())
          assert.deepEqual(rows, [{ body: `note of ${tenant.slug}` }], tenant.slug)
        }
        // No scope, no query.
        await assert.rejects(tenantry.db.selectFrom('notes').selectAll().execute(), (e: unknown) => isTenantryError(e, 'TENANT_CONTEXT_MISSING'))
        for (const tenant of made) await tenantry.tenants.offboard(tenant.slug)
      } finally {
        await tenantry.close()
      }
    })

    it('starts again on the same data without migrating twice, and close() is idempotent', async () => {
      const first = await createTenantry<Db>(base)
      const acme = await first.tenants.create({ slug: 'acme', name: 'Acme' })
      assert.equal(acme.isolation, 'shared', 'the first configured model is the default')
      await first.close()
      await first.close()
      const second = await createTenantry<Db>(base)
      try {
        assert.equal(second.migration?.visited, 0)
        assert.equal((await second.tenants.get('acme')).id, acme.id)
      } finally {
        await second.close()
      }
    })

    it('records every runAsSystem in the catalog audit log while open, and stops at close (or when told not to)', async () => {
      const reason = `nightly report ${uniqueName('r')}`
      const audited = async (t: Tenantry<Db>): Promise<number> =>
        (await t.catalog.listAudit({ action: 'system_scope', limit: 1000 })).filter((r) => r.reason === reason).length
      // On by default on PostgreSQL; opt-in on embedded PGlite (one connection).
      const tenantry = await createTenantry<Db>(backend.name === 'postgres' ? base : { ...base, auditSystemScopes: true })
      try {
        assert.equal(await runAsSystem(reason, async () => 'ran', { actor: 'cron' }), 'ran')
        const rows = (await tenantry.catalog.listAudit({ action: 'system_scope', limit: 1000 })).filter((r) => r.reason === reason)
        assert.equal(rows.length, 1)
        assert.equal(rows[0]!.actor, 'cron')
      } finally {
        await tenantry.close()
      }
      await runAsSystem(reason, async () => undefined)   // no sink left behind by the closed instance
      const quiet = await createTenantry<Db>({ ...base, auditSystemScopes: false })
      try {
        await runAsSystem(reason, async () => undefined)
        assert.equal(await audited(quiet), 1, 'neither the closed instance nor the one told not to audit recorded it')
      } finally {
        await quiet.close()
      }
    })

    it('refuses migrations and installs at start behind a declared transaction pooler, before connecting, and the CLI\'s migrate with such a config', async () => {
      // Port 1: nothing listens; the refusal must come before any connection is tried.
      const behind = { database: { url: 'postgres://nobody@127.0.0.1:1/none', pooler: 'transaction' as const }, models: { shared: { tables: ['projects'] } } }
      await assert.rejects(createTenantry(behind), (e: unknown) => {
        assert.ok(isTenantryError(e, 'VALIDATION_FAILED'), String(e))
        assert.deepEqual((e.details as { path: string }[]).map((d) => d.path).sort(), ['config.install', 'config.migrate'])
        assert.match(e.message, /need a session/)
        assert.match(e.message, /set database\.directUrl/)
        return true
      })
      const dir = await mkdtemp(join(tmpdir(), 'tenantry-pooler-cli-'))
      try {
        const file = join(dir, 'tenantry.config.mjs')
        await writeFile(file, `export default ${JSON.stringify({ ...behind, migrate: false, install: false })}\n`)
        for (const args of [['migrate', '-c', file], ['migrate', 'down', '-c', file, '--all', '--to', '0']]) {
          const run = await runTenantry(args, {}).done
          assert.notEqual(run.code, 0, args.join(' '))
          assert.match(run.err, /needs a session/, args.join(' '))
          assert.match(run.err, /set database\.directUrl/, args.join(' '))
          assert.doesNotMatch(run.err, /ECONNREFUSED/, 'refused before connecting')
        }
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('refuses a bad config before opening anything, naming every problem', async () => {
      const bad = {
        database: 'mysql://nope', models: { shard: {} }, migrate: 'yes', doctor: 'maybe', runtimeRole: 'bad role!', plans: 7, redis: 'http://x', typo: 1,
      } as unknown as TenantryConfig
      await assert.rejects(createTenantry(bad), (e: unknown) => {
        assert.ok(isTenantryError(e, 'VALIDATION_FAILED'))
        const paths = (e.details as { path: string }[]).map((d) => d.path).sort()
        assert.deepEqual(paths, [
          'config.database', 'config.doctor', 'config.migrate', 'config.models', 'config.plans', 'config.redis', 'config.runtimeRole', 'config.typo',
        ])
        return true
      })
      await assert.rejects(createTenantry({ database: base.database, models: {} }), /must name at least one isolation model/)
    })

    it('refuses to start on an unsafe database (doctor), or warns when told to; a missing wall is put back at start', async () => {
      const tenantry = await createTenantry<Db>(base)
      const owner = tenantry.target.pool
      // What install() does not undo: a SECURITY DEFINER function the runtime role may call reads every tenant's rows.
      await owner.query("create function public.count_all_notes() returns bigint language sql security definer as 'select count(*) from public.notes'")
      await owner.query('alter table notes no force row level security')
      await tenantry.close()
      try {
        await assert.rejects(createTenantry(base), (e: unknown) => {
          assert.ok(isTenantryError(e, 'ISOLATION_MISCONFIGURED'))
          assert.match(e.message, /\[shared\].*count_all_notes/)
          assert.match(e.message, /tenantry doctor/)
          return true
        })
        const warnings: string[] = []
        const warned = await createTenantry({ ...base, doctor: 'warn', onWarning: (m) => warnings.push(m) })
        await warned.close()
        assert.ok(warnings.some((w) => /function\.definer.*count_all_notes/.test(w)), warnings.join('\n'))
      } finally {
        await (backend.name === 'postgres' ? database!.pool : undefined)?.query('drop function public.count_all_notes()')
        if (backend.name === 'pglite') {
          const cleanup = await createTenantry({ ...base, doctor: 'off' })
          await cleanup.target.pool.query('drop function public.count_all_notes()')
          await cleanup.close()
        }
      }
      // The FORCE removed above was put back by the start's install().
      const healed = await createTenantry(base)
      const forced = await healed.target.pool.query<{ forced: boolean }>("select relforcerowsecurity as forced from pg_class where oid = 'public.notes'::regclass")
      assert.deepEqual(forced.rows, [{ forced: true }])
      assert.equal((await healed.doctor()).ok, true)
      await healed.close()
    })

    it('fails at start when a migration fails, and leaves nothing open', async () => {
      const broken = { ...base, migrations: { tenant: [notesMigration, { id: '0002_broken', up: 'select * from no_such_table' }] } }
      await assert.rejects(createTenantry(broken), (e: unknown) => isTenantryError(e, 'MIGRATION_FAILED') && /0002_broken|no_such_table/.test(e.message))
      // Everything was closed: the embedded folder is not left locked, the pools are gone.
      const again = await createTenantry(base)
      await again.close()
    })

    it('checks plans before writing and gives the adapters resolution, API keys and the plans\' limits', async () => {
      const tenantry = await createTenantry<Db>({
        ...base,
        plans: { free: { rateLimit: { limit: 2, windowMs: 60_000 } }, pro: { rateLimit: { limit: 100, windowMs: 60_000 } } },
        resolution: { baseDomains: ['example.com'] },
      })
      try {
        await assert.rejects(tenantry.tenants.create({ slug: 'golden', name: 'G', plan: 'gold' }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /free, pro/.test(e.message))
        assert.equal(await tenantry.catalog.getBySlug('golden'), undefined)
        const globex = await tenantry.tenants.create({ slug: 'globex', name: 'Globex', isolation: 'schema' })
        assert.equal(globex.plan, 'free')
        const { key } = await tenantry.tenants.createApiKey('globex')
        const http = tenantry.http
        const resolved = await http.resolution.resolve(request({ authorization: `Bearer ${key}` }, 'globex.example.com'))
        assert.equal(resolved.id, globex.id)
        assert.deepEqual(await http.authenticate!(request({ authorization: `Bearer ${key}` }), resolved), { keyId: (await tenantry.tenants.listApiKeys('globex'))[0]!.id })
        await assert.rejects(http.authenticate!(request({}), resolved), (e: unknown) => isTenantryError(e, 'UNAUTHENTICATED'))
        // The free plan's 2 requests a minute.
        const admitted = [await http.admission!.admit(resolved, { method: 'GET', route: '/api/notes' }), await http.admission!.admit(resolved, { method: 'GET', route: '/api/notes' })]
        for (const ticket of admitted) ticket.release()
        await assert.rejects(http.admission!.admit(resolved, { method: 'GET', route: '/api/notes' }), (e: unknown) => isTenantryError(e, 'RATE_LIMITED'))
        // A suspend reaches the cached directory at once.
        await tenantry.tenants.suspend('globex')
        await assert.rejects(http.resolution.resolve(request({}, 'globex.example.com')), (e: unknown) => isTenantryError(e, 'TENANT_SUSPENDED'))
        await tenantry.tenants.offboard('globex')
        await assert.rejects(http.resolution.resolve(request({}, 'globex.example.com')), (e: unknown) => isTenantryError(e, 'TENANT_NOT_FOUND'))
      } finally {
        await tenantry.close()
      }
    })

    it("identifies the tenant from its API key alone with authenticate: 'api-key-names-tenant'", async () => {
      const tenantry = await createTenantry<Db>({ ...base, resolution: { header: false, authenticate: 'api-key-names-tenant' } })
      try {
        const initech = await tenantry.tenants.create({ slug: 'initech', name: 'Initech', isolation: 'database' })
        const umbrella = await tenantry.tenants.create({ slug: 'umbrella', name: 'Umbrella' })
        const { key } = await tenantry.tenants.createApiKey('initech')
        const { resolution, authenticate } = tenantry.http
        const withKey = request({ authorization: `Bearer ${key}` })
        const tenant = await resolution.resolve(withKey)
        assert.equal(tenant.id, initech.id)
        assert.ok(await authenticate!(withKey, tenant))
        await assert.rejects(authenticate!(withKey, umbrella), (e: unknown) => isTenantryError(e, 'TENANT_MISMATCH'))
        await assert.rejects(resolution.resolve(request({ authorization: 'Bearer tnt_unknown_000000000000000000000000000000000000000' })), (e: unknown) => isTenantryError(e, 'UNAUTHENTICATED'))
        await assert.rejects(resolution.resolve(request({})), (e: unknown) => isTenantryError(e, 'TENANT_NOT_IDENTIFIED'))
        await tenantry.tenants.revokeApiKey('initech', (await tenantry.tenants.listApiKeys('initech'))[0]!.id)
        await assert.rejects(resolution.resolve(withKey), (e: unknown) => isTenantryError(e, 'UNAUTHENTICATED'))
        await tenantry.tenants.offboard('initech')
        await tenantry.tenants.offboard('umbrella')
      } finally {
        await tenantry.close()
      }
    })
  })
}

describe('createTenantry with Redis', { skip: process.env.TENANTRY_REDIS_URL === undefined || process.env.TENANTRY_PG_URL === undefined }, () => {
  it('keeps two instances\' caches current: a suspend on one is seen by the other', async () => {
    const [postgres] = testBackends().filter((b) => b.name === 'postgres')
    const database = await postgres!.createDatabase()
    const role = uniqueName('tenantry_ctr')
    const config: TenantryConfig = {
      database: database.url!, models: { shared: { tables: ['notes'] } }, migrations: { tenant: [notesMigration] },
      runtimeRole: role, redis: process.env.TENANTRY_REDIS_URL!, resolution: { header: 'x-tenant-id' },
    }
    const a = await createTenantry(config)
    const b = await createTenantry(config)
    try {
      const hooli = await a.tenants.create({ slug: 'hooli', name: 'Hooli' })
      const asked = request({ 'x-tenant-id': 'hooli' })
      assert.equal((await b.http.resolution.resolve(asked)).id, hooli.id)
      await a.tenants.suspend('hooli')
      const deadline = Date.now() + 1000
      let seen: unknown
      while (Date.now() < deadline) {
        seen = await b.http.resolution.resolve(asked).then(() => undefined, (e: unknown) => e)
        if (seen !== undefined) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      assert.ok(isTenantryError(seen, 'TENANT_SUSPENDED'), 'the other instance saw the suspend within 1 s')
    } finally {
      await a.close()
      await b.close()
      await dropRoles(database, [role])
      await database.close()
    }
  })
})
