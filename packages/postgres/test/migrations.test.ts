import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { isTenantryError, runWithTenant } from '@tenantry/core'
import type { Generated } from 'kysely'
import { defineMigration, type MigrationEvent, type TenantRecord } from '@tenantry/postgres'
import { acquireFleetLock } from '@tenantry/postgres/internal'
import { testBackends, createFleet, tableMigration, type Fleet } from '@tenantry/test-kit'

const isCode = (code: string) => (e: unknown) => isTenantryError(e) && e.code === code
const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id)

for (const backend of testBackends()) {
  describe(`fleet migrations on ${backend.name}, tenants in all three models`, () => {
    let fleet: Fleet
    let tenants: TenantRecord[]
    const v1 = [tableMigration(1)]
    const v2 = [tableMigration(1), tableMigration(2)]
    // Two statements: the second fails where a table is in its way, after the first ran.
    const m3 = defineMigration({ id: '0003_t0003', up: 'create table t0003 (id int); create table t0003_clash (id int)', down: 'drop table t0003_clash; drop table t0003', checksum: 'clash-v1' })
    const v3 = [...v2, m3]
    let canaryFails = true
    let canaryCalls = 0
    const m4 = defineMigration({
      id: '0004_canary',
      up: async ({ tenant }) => {
        canaryCalls++
        if (canaryFails && tenant?.slug === 'globex') throw new Error('boom in globex')
      },
      checksum: 'canary-v1',
    })

    before(async () => {
      fleet = await createFleet(backend)
      const summary = await fleet.migrator(v1).migrate({ scope: { kind: 'shared' } })
      assert.equal(summary.ok, true)
      tenants = await fleet.onboard(v1, [['acme', 'shared'], ['globex', 'schema'], ['umbrella', 'schema'], ['initech', 'database'], ['wonka', 'database']])
    })
    after(async () => {
      await fleet.close()
    })

    it('provisions new tenants at the latest tenant migration and records them in the ledger', async () => {
      for (const tenant of tenants.filter((t) => t.isolation !== 'shared')) {
        assert.deepEqual(await fleet.tablesOf(tenant), ['t0001'], tenant.slug)
        assert.equal(tenant.status, 'active')
      }
      const status = await fleet.migrator(v1).status()
      assert.equal(status.targets, 5) // shared + 2 schemas + 2 databases
      assert.deepEqual(status.tenant, [{ id: '0001_t0001', applied: 5, pending: 0, failed: 0 }])
    })

    it('installs the shared walls in the same run as the migration that made the table', async () => {
      const rls = await fleet.database.pool.query<{ enabled: boolean; forced: boolean }>(
        `select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = 'public.t0001'::regclass`,
      )
      assert.deepEqual(rls.rows[0], { enabled: true, forced: true })
    })

    it('finds nothing to do on a current fleet without visiting any tenant', async () => {
      const summary = await fleet.migrator(v1).migrate()
      assert.deepEqual({ visited: summary.visited, ok: summary.ok }, { visited: 0, ok: true })
    })

    it('applies a new migration to the shared tables and every tenant schema and database, once each', async () => {
      const events: MigrationEvent[] = []
      const summary = await fleet.migrator(v2).migrate({ concurrency: 2, onEvent: (e) => events.push(e) })
      assert.equal(summary.ok, true)
      assert.equal(summary.migrated, 5)
      const done = events.filter((e) => e.type === 'target-done').map((e) => (e.type === 'target-done' ? e.outcome.target.key : ''))
      assert.equal(new Set(done).size, 5)
      for (const tenant of tenants.filter((t) => t.isolation !== 'shared')) assert.deepEqual(await fleet.tablesOf(tenant), ['t0001', 't0002'])
      assert.ok((await fleet.tablesOf('shared')).includes('t0002'))
      assert.equal((await fleet.migrator(v2).migrate()).visited, 0)
    })

    it('refuses to run when an applied migration was edited, before touching anything', async () => {
      const edited = [tableMigration(1, { checksum: 'edited' }), tableMigration(2), tableMigration(3)]
      await assert.rejects(fleet.migrator(edited).migrate(), isCode('MIGRATION_CHECKSUM_MISMATCH'))
      for (const tenant of tenants.filter((t) => t.isolation !== 'shared')) assert.deepEqual(await fleet.tablesOf(tenant), ['t0001', 't0002'])
    })

    it('rolls a failed tenant back to where it was, stops, reports it in status, and resumes after the fix', async () => {
      const umbrella = tenants.find((t) => t.slug === 'umbrella')!
      // A table in umbrella's way makes 0003 fail there, after its first statement ran.
      await fleet.database.pool.query(`create table ${umbrella.placement.schema}.t0003_clash (id int)`)
      const summary = await fleet.migrator(v3).migrate({ concurrency: 1 })
      assert.equal(summary.ok, false)
      assert.equal(summary.failed.length, 1)
      assert.equal(summary.failed[0]?.target.key, umbrella.id)
      assert.equal(summary.failed[0]?.error?.code, 'MIGRATION_FAILED')
      assert.ok(summary.skipped > 0, 'targets after the failure are not started')
      assert.deepEqual(await fleet.tablesOf(umbrella), ['t0001', 't0002', 't0003_clash'], 'nothing of 0003 stays')
      const status = await fleet.migrator(v3).status()
      const row = status.tenant.find((r) => r.id === '0003_t0003')!
      assert.equal(row.failed, 1)
      assert.equal(row.applied, 2) // the shared tables and globex, before umbrella (concurrency 1)
      assert.equal(status.failures.length, 1)
      assert.match(status.failures[0]!.error, /t0003_clash/)
      assert.match(status.failures[0]!.label, /umbrella/)
      // One tenant's view of it: what the admin console shows.
      const own = await fleet.migrator(v3).tenantStatus(umbrella)
      assert.equal(own.target, umbrella.id)
      assert.deepEqual(own.migrations.map((m) => [m.id, m.state]), [['0001_t0001', 'applied'], ['0002_t0002', 'applied'], ['0003_t0003', 'failed']])
      assert.match(own.migrations[2]!.error ?? '', /t0003_clash/)
      const sharedTenant = tenants.find((t) => t.isolation === 'shared')!
      const shared = await fleet.migrator(v3).tenantStatus(sharedTenant)
      assert.equal(shared.target, 'shared')
      assert.deepEqual(shared.migrations.map((m) => m.state), ['applied', 'applied', 'applied'])

      // --continue-on-error finishes the rest and reports the same failure.
      const rest = await fleet.migrator(v3).migrate({ continueOnError: true, concurrency: 2 })
      assert.equal(rest.failed.length, 1)
      assert.equal(rest.skipped, 0)
      const after = await fleet.migrator(v3).status()
      assert.deepEqual(after.tenant.find((r) => r.id === '0003_t0003'), { id: '0003_t0003', applied: 4, pending: 0, failed: 1 })

      // Fixed: only umbrella is visited.
      await fleet.database.pool.query(`drop table ${umbrella.placement.schema}.t0003_clash`)
      const fixed = await fleet.migrator(v3).migrate()
      assert.deepEqual({ ok: fixed.ok, visited: fixed.visited, migrated: fixed.migrated }, { ok: true, visited: 1, migrated: 1 })
      assert.deepEqual((await fleet.migrator(v3).status()).failures, [])
    })

    it('rolls one tenant back to a migration, then all targets, and forward again', async () => {
      const globex = tenants.find((t) => t.slug === 'globex')!
      const one = await fleet.migrator(v3).down({ to: '0001_t0001', scope: { kind: 'tenant', slug: 'globex' } })
      assert.equal(one.ok, true)
      assert.deepEqual(await fleet.tablesOf(globex), ['t0001'])
      assert.deepEqual((await fleet.migrator(v3).status()).tenant.map((r) => r.applied), [5, 4, 4])

      const all = await fleet.migrator(v3).down({ to: '0002_t0002' })
      assert.equal(all.ok, true)
      for (const tenant of tenants.filter((t) => t.isolation !== 'shared')) {
        assert.deepEqual(await fleet.tablesOf(tenant), tenant.slug === 'globex' ? ['t0001'] : ['t0001', 't0002'])
      }
      await assert.rejects(fleet.migrator(v3).down({ to: 'nope' }), isCode('VALIDATION_FAILED'))

      const forward = await fleet.migrator(v3).migrate()
      assert.equal(forward.ok, true)
      assert.equal(forward.migrated, 5)
      assert.deepEqual(await fleet.tablesOf(globex), ['t0001', 't0002', 't0003', 't0003_clash'])
    })

    it('stops after a failing canary and leaves the other tenants alone', async () => {
      const summary = await fleet.migrator([...v3, m4]).migrate({ canary: 1, scope: { kind: 'all' } })
      // shared first, then the canary (globex is the oldest schema/database tenant): it fails, nothing else starts.
      assert.equal(summary.ok, false)
      assert.equal(summary.failed[0]?.target.tenant?.slug, 'globex')
      assert.equal(canaryCalls, 2)
      assert.equal(summary.skipped, 3)
      assert.match(summary.failed[0]?.error?.message ?? '', /boom in globex/)
    })

    it('lets one runner at a time hold the fleet lock, and a waiting runner finds the work done', async () => {
      let release!: () => void
      const gate = new Promise<void>((resolve) => { release = resolve })
      let entered!: () => void
      const started = new Promise<void>((resolve) => { entered = resolve })
      const runs = new Map<string, number>()
      const slow = defineMigration({
        id: '0005_slow',
        up: async ({ tenant }) => {
          const key = tenant?.id ?? 'shared'
          runs.set(key, (runs.get(key) ?? 0) + 1)
          entered()
          await gate
        },
        checksum: 'slow-v1',
      })
      canaryFails = false
      const set = [...v3, m4, slow]
      const first = fleet.migrator(set).migrate({ scope: { kind: 'tenant', slug: 'wonka' } })
      await started
      await assert.rejects(fleet.migrator(set).migrate(), isCode('MIGRATION_LOCKED'))
      const waiting = fleet.migrator(set).migrate({ scope: { kind: 'tenant', slug: 'wonka' }, waitForLockMs: 30_000 })
      release()
      const [a, b] = await Promise.all([first, waiting])
      assert.equal(a.migrated, 1)
      assert.deepEqual({ migrated: b.migrated, current: b.current }, { migrated: 0, current: 1 }, 'the second runner found wonka already migrated')
      assert.deepEqual([...runs.values()], [1])
    })

    it('records a tenant whose schema is missing as failed, with the reason, and migrates the others', async () => {
      const m5 = defineMigration({ id: '0005_slow', up: 'select 1', checksum: 'slow-v1' })
      const m6 = defineMigration({ id: '0006_noop', up: 'select 1', checksum: 'noop-v1' })
      const set = [...v3, m4, m5]
      const [ghost] = await fleet.onboard(set, [['ghost', 'schema']])
      await fleet.database.pool.query(`drop schema ${ghost!.placement.schema} cascade`)
      const summary = await fleet.migrator([...set, m6]).migrate({ continueOnError: true, concurrency: 2 })
      assert.equal(summary.failed.length, 1)
      assert.equal(summary.failed[0]?.target.tenant?.slug, 'ghost')
      assert.equal(summary.failed[0]?.error?.code, 'TENANT_PLACEMENT_MISSING')
      assert.equal(summary.migrated, 5)
      const status = await fleet.migrator([...set, m6]).status()
      assert.deepEqual(status.failures.map((f) => [f.label, f.migration]), [['ghost (schema)', '0006_noop']])
      assert.match(status.failures[0]!.error, /does not exist; provision the tenant/)
    })

    it('offboards: purges a shared tenant\'s rows only, drops a schema tenant\'s schema, forgets both ledgers', async () => {
      const m5 = defineMigration({ id: '0005_slow', up: 'select 1', checksum: 'slow-v1' })
      const set = [...v3, m4, m5]
      const [keep, gone, dropped] = await fleet.onboard(set, [['keep', 'shared'], ['gone', 'shared'], ['dropped', 'schema']])
      const db = fleet.shared.kysely<{ t0001: { id: Generated<number>; name: string; tenant_id: Generated<string> } }>()
      for (const tenant of [keep!, gone!]) await runWithTenant(tenant, () => db.insertInto('t0001').values([{ name: 'a' }, { name: 'b' }]).execute())
      await fleet.lifecycle(set).offboard(gone!.id)
      await fleet.lifecycle(set).offboard(dropped!.id)
      assert.equal((await runWithTenant(keep!, () => db.selectFrom('t0001').selectAll().execute())).length, 2)
      assert.equal((await runWithTenant(gone!, () => db.selectFrom('t0001').selectAll().execute())).length, 0)
      const schema = await fleet.database.pool.query('select 1 from pg_namespace where nspname = $1', [dropped!.placement.schema])
      assert.equal(schema.rowCount, 0)
      const ledger = await fleet.database.pool.query(`select 1 from tenantry.migrations where target = $1 union all select 1 from tenantry.migration_heads where target = $1`, [dropped!.id])
      assert.equal(ledger.rowCount, 0)
      // Offboarded tenants are deleted in the catalog: the fleet no longer visits them.
      assert.equal(await fleet.catalog.getById(dropped!.id), undefined)
      assert.equal(await fleet.catalog.getById(gone!.id), undefined)
    })

    it('runs a migration marked transaction: false alone, outside a transaction', async () => {
      const m5 = defineMigration({ id: '0005_slow', up: 'select 1', checksum: 'slow-v1' })
      const index = defineMigration({
        id: '0007_index',
        up: 'create index concurrently if not exists t0001_name_idx on t0001 (name)',
        down: 'drop index concurrently if exists t0001_name_idx',
        transaction: false,
        checksum: 'index-v1',
      })
      const m8 = defineMigration({ id: '0008_after', up: 'create table t0008 (id int)', down: 'drop table t0008', checksum: 't0008-v1' })
      const m6 = defineMigration({ id: '0006_noop', up: 'select 1', checksum: 'noop-v1' })
      const set = [...v3, m4, m5, m6, index, m8]
      const summary = await fleet.migrator(set).migrate({ continueOnError: true })
      // Concurrent targets finish in any order.
      assert.deepEqual(summary.failed.map((f) => f.target.tenant?.slug).sort(), ['ghost'], summary.failed.map((f) => f.error?.message).join('\n'))
      const globex = tenants.find((t) => t.slug === 'globex')!
      assert.ok((await fleet.tablesOf(globex)).includes('t0008'))
      const idx = await fleet.database.pool.query('select 1 from pg_indexes where schemaname = $1 and indexname = $2', [globex.placement.schema, 't0001_name_idx'])
      assert.equal(idx.rowCount, 1)
    })

    it('puts a table made by a non-transactional last step behind its walls in the same run', async () => {
      const m5 = defineMigration({ id: '0005_slow', up: 'select 1', checksum: 'slow-v1' })
      const m6 = defineMigration({ id: '0006_noop', up: 'select 1', checksum: 'noop-v1' })
      const index = defineMigration({ id: '0007_index', up: 'create index concurrently if not exists t0001_name_idx on t0001 (name)', down: 'drop index concurrently if exists t0001_name_idx', transaction: false, checksum: 'index-v1' })
      const m8 = defineMigration({ id: '0008_after', up: 'create table t0008 (id int)', down: 'drop table t0008', checksum: 't0008-v1' })
      const last = defineMigration({ id: '0009_alone', up: 'create table t0009 (id int generated always as identity)', down: 'drop table t0009', transaction: false, checksum: 't0009-v1' })
      await fleet.migrator([...v3, m4, m5, m6, index, m8, last]).migrate({ continueOnError: true })
      const globex = tenants.find((t) => t.slug === 'globex')!
      const walls = await fleet.database.pool.query<{ forced: boolean; policies: number }>(
        `select c.relforcerowsecurity as forced, (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
           from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 't0009'`,
        [globex.placement.schema],
      )
      assert.deepEqual(walls.rows, [{ forced: true, policies: 1 }])
      const down = await fleet.migrator([...v3, m4, m5, m6, index, m8, last]).down({ to: '0008_after', scope: { kind: 'all' }, continueOnError: true })
      assert.deepEqual(down.failed.map((f) => f.target.tenant?.slug).sort(), ['ghost'])
    })

    it('records a failed down step beside its applied row, and clears it when the target succeeds', async () => {
      const m5 = defineMigration({ id: '0005_slow', up: 'select 1', checksum: 'slow-v1' })
      const index = defineMigration({ id: '0007_index', up: 'create index concurrently if not exists t0001_name_idx on t0001 (name)', down: 'drop index concurrently if exists t0001_name_idx', transaction: false, checksum: 'index-v1' })
      const broken = defineMigration({ id: '0008_after', up: 'create table t0008 (id int)', down: 'drop table t0008_typo', checksum: 't0008-v1' })
      const m6 = defineMigration({ id: '0006_noop', up: 'select 1', checksum: 'noop-v1' })
      const set = [...v3, m4, m5, m6, index, broken]
      const down = await fleet.migrator(set).down({ to: '0007_index', scope: { kind: 'tenant', slug: 'globex' } })
      assert.equal(down.failed.length, 1)
      const status = await fleet.migrator(set).status()
      const failure = status.failures.find((f) => f.label.startsWith('globex'))
      assert.equal(failure?.migration, '0008_after')
      assert.match(failure!.error, /t0008_typo/)
      assert.equal(status.tenant.find((r) => r.id === '0008_after')?.applied, 5, 'still applied everywhere but ghost and dropped')
      const globex = tenants.find((t) => t.slug === 'globex')!
      assert.ok((await fleet.tablesOf(globex)).includes('t0008'), 'the failed down step left the table')
      const fixed = defineMigration({ id: '0008_after', up: 'create table t0008 (id int)', down: 'drop table t0008', checksum: 't0008-v1' })
      assert.equal((await fleet.migrator([...v3, m4, m5, m6, index, fixed]).down({ to: '0007_index', scope: { kind: 'tenant', slug: 'globex' } })).ok, true)
      assert.equal((await fleet.migrator(set).status()).failures.filter((f) => f.label.startsWith('globex')).length, 0)
    })

    it('refuses to roll back a shared-model tenant alone (its tables are every shared tenant\'s)', async () => {
      await assert.rejects(fleet.migrator(v3).down({ to: '0001_t0001', scope: { kind: 'tenant', slug: 'acme' } }), isCode('VALIDATION_FAILED'))
    })

    it('turns away a runner on another connection while one holds the fleet lock', { skip: backend.name === 'pglite' && 'PGlite is one connection: the lock is in-process there (tested above)' }, async () => {
      const other = { backend: 'postgres' as const, pool: fleet.database.newPool() }
      const lock = await acquireFleetLock(fleet.database)
      try {
        await assert.rejects(acquireFleetLock(other), (e: unknown) => isCode('MIGRATION_LOCKED')(e) && /pid \d+ \(tenantry migrate\)/.test((e as Error).message))
        const waiting = acquireFleetLock(other, { waitMs: 10_000 })
        await new Promise((r) => setTimeout(r, 300))
        await lock.release()
        await (await waiting).release()
      } finally {
        await lock.release()
      }
    })
  })
}

for (const backend of testBackends()) {
  describe(`fleet migrations of tenant databases on ${backend.name}`, () => {
    let fleet: Fleet
    let tenants: TenantRecord[]
    const v1 = [tableMigration(1)]
    const v2 = [...v1, tableMigration(2)]
    let failIn: string | undefined = 'hooli'
    const flaky = (down: string) => defineMigration({
      id: '0003_flaky',
      up: async ({ tenant, client }) => {
        if (tenant?.slug === failIn) throw new Error(`boom in ${failIn}`)
        await client.query('create table t0003 (id int)')
      },
      down,
      checksum: 'flaky-v1',
    })
    const v3 = [...v2, flaky('drop table t0003')]
    const bySlug = (slug: string): TenantRecord => tenants.find((t) => t.slug === slug)!
    const keyOf = (t: TenantRecord) => ({ ...(t.placement.server === undefined ? {} : { server: t.placement.server }), database: t.placement.database! })

    before(async () => {
      fleet = await createFleet(backend)
      assert.equal((await fleet.migrator(v1).migrate({ scope: { kind: 'shared' } })).ok, true)
      tenants = await fleet.onboard(v1, [['hooli', 'database'], ['pied-piper', 'database'], ['aviato', 'schema']])
    })
    after(async () => {
      await fleet.close()
    })

    it('closes its connection to a tenant database once the database is done on PostgreSQL, so the budget is not held by owner connections (PGlite keeps its one connection: the instance)', async () => {
      const databases = tenants.filter((t) => t.isolation === 'database')
      // An idle owner connection to each, as provisioning or a look at the tables leaves.
      for (const t of databases) await fleet.router.withClient(keyOf(t), (c) => c.query('select 1'))
      const summary = await fleet.migrator(v2).migrate({ concurrency: 2 })
      assert.deepEqual({ ok: summary.ok, migrated: summary.migrated }, { ok: true, migrated: 4 })
      for (const t of databases) {
        const owner = fleet.router.stats().databases.filter((d) => d.database === t.placement.database && d.login === undefined)
        const idle = owner.reduce((n, d) => n + d.idle + d.checkedOut, 0)
        assert.equal(idle, backend.name === 'postgres' ? 0 : 1, t.slug)
      }
      for (const t of databases) assert.deepEqual(await fleet.tablesOf(t), ['t0001', 't0002'])
    })

    it('records a tenant database\'s failed step in the control plane, and clears it with the mirror of its ledger once the database succeeds', async () => {
      const failed = await fleet.migrator(v3).migrate({ continueOnError: true })
      assert.deepEqual(failed.failed.map((f) => f.target.tenant?.slug), ['hooli'])
      const status = await fleet.migrator(v3).status()
      assert.deepEqual(status.failures.map((f) => [f.label, f.migration]), [['hooli (database)', '0003_flaky']])
      assert.match(status.failures[0]!.error, /boom in hooli/)

      failIn = undefined
      const fixed = await fleet.migrator(v3).migrate()
      assert.deepEqual({ ok: fixed.ok, visited: fixed.visited, migrated: fixed.migrated }, { ok: true, visited: 1, migrated: 1 })
      const after = await fleet.migrator(v3).status()
      assert.deepEqual(after.failures, [])
      assert.deepEqual(after.tenant.find((r) => r.id === '0003_flaky'), { id: '0003_flaky', applied: 4, pending: 0, failed: 0 })
      assert.deepEqual(await fleet.tablesOf(bySlug('hooli')), ['t0001', 't0002', 't0003'])
    })

    it('keeps a tenant database\'s failed down step beside its applied row, and clears the error when the database next succeeds', async () => {
      const broken = [...v2, flaky('drop table t0003_typo')]
      const down = await fleet.migrator(broken).down({ to: '0002_t0002', scope: { kind: 'tenant', slug: 'hooli' } })
      assert.equal(down.failed.length, 1)
      const status = await fleet.migrator(broken).status()
      assert.deepEqual(status.failures.map((f) => [f.label, f.migration]), [['hooli (database)', '0003_flaky']])
      assert.match(status.failures[0]!.error, /t0003_typo/)
      assert.equal(status.tenant.find((r) => r.id === '0003_flaky')?.applied, 4, 'still applied in hooli')

      // A run that finds hooli current still mirrors its ledger, and clears the error.
      const visit = await fleet.migrator(v3).migrate({ scope: { kind: 'tenant', slug: 'hooli' } })
      assert.deepEqual({ ok: visit.ok, current: visit.current }, { ok: true, current: 1 })
      const after = await fleet.migrator(v3).status()
      assert.deepEqual(after.failures, [])
      assert.deepEqual(after.tenant.find((r) => r.id === '0003_flaky'), { id: '0003_flaky', applied: 4, pending: 0, failed: 0 })

      const rolledBack = await fleet.migrator(v3).down({ to: '0002_t0002', scope: { kind: 'tenant', slug: 'hooli' } })
      assert.equal(rolledBack.ok, true)
      assert.deepEqual(await fleet.tablesOf(bySlug('hooli')), ['t0001', 't0002'])
      assert.deepEqual((await fleet.migrator(v3).status()).tenant.find((r) => r.id === '0003_flaky'), { id: '0003_flaky', applied: 3, pending: 1, failed: 0 })
      assert.equal((await fleet.migrator(v3).migrate()).migrated, 1)
    })

    for (const slug of ['pied-piper', 'aviato']) {
      it(`lets one runner at a time migrate a tenant (${slug === 'aviato' ? 'schema' : 'database'}): a second waits for the tenant's lock, then finds it done`, async () => {
        let release!: () => void
        const gate = new Promise<void>((resolve) => { release = resolve })
        let entered!: () => void
        const started = new Promise<void>((resolve) => { entered = resolve })
        let runs = 0
        const slow = defineMigration({
          id: `0004_slow_${slug.replace('-', '_')}`,
          up: async ({ tenant }) => {
            if (tenant?.slug !== slug) return
            runs++
            entered()
            await gate
          },
          checksum: `slow-${slug}`,
        })
        const set = [...v3, slow]
        const tenant = bySlug(slug)
        // Neither takes the fleet lock (as provisioning does not): the tenant's own lock keeps them apart.
        const first = fleet.migrator(set).migrateTenant(tenant)
        await started
        const second = fleet.migrator(set).migrateTenant(tenant)
        await new Promise((resolve) => setTimeout(resolve, 100))
        release()
        const outcomes = await Promise.all([first, second])
        assert.deepEqual(outcomes.map((o) => o.status), ['migrated', 'current'], outcomes.map((o) => o.error?.message).join('\n'))
        assert.equal(runs, 1)
      })
    }
  })
}
