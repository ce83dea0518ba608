/**
 * `migrate` (issue #4, item 8): what fleet migrations cost as the fleet grows.
 *
 * (a) A no-op run (every target current) with 1,000 schema tenants x 10 tables
 *     plus the shared tables, against a no-op run of a fleet of 1 tenant (its
 *     own database, same tables), the two interleaved round by round. Goal:
 *     ratio >= 0.5 (the 1,000-tenant run costs at most 2x the 1-tenant run).
 * (b) Add a column and an index to every tenant's table, in rounds as (c):
 *     one schema tenant alone, the rest of the fleet (and the shared tables)
 *     at once, then all rolled back (untimed). Figure: median fleet time
 *     against the median of (the one-tenant run's own cost + the tenant's own
 *     migration x N / concurrency), concurrency at most the cores. Goal:
 *     total <= 1.5x that, i.e. ratio >= 0.667.
 * (c) The same on 100 tenant databases (PGlite: 10, each one an instance), in
 *     rounds: one tenant alone, the other 99 at once, the one again, then all
 *     rolled back (untimed) for the next round; one migrator for every run, so
 *     the one tenant's time is warm, as the fleet's targets are. Figure: median
 *     fleet time against the median of (the one-tenant run's own cost, once, +
 *     the tenant's own migration x 99 / concurrency), with concurrency at most
 *     the machine's cores: a database's migration is
 *     CPU work in Node and in PostgreSQL (on the same cores), so "x N / 8" on
 *     2 cores would promise a 4x speed-up no machine of 2 cores has. One more
 *     run, every database at the benchmark's concurrency, is reported beside
 *     it (no goal).
 *
 * Everything it makes (schemas, databases, roles) goes with the benchmark's
 * database or is dropped at close.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { PGlite } from '@electric-sql/pglite'
import { FleetMigrator, defineMigration, postgresTarget, type Migration, type MigrationContext, type PostgresTarget, type TenantRecord } from '@tenantry/postgres'
import { createTenantry } from 'tenantry'
import { ownDatabase } from './harness/own-database.ts'
import { pgliteTarget } from '@tenantry/postgres/pglite'
import type { BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { benchDatabaseUrl } from './http/setup.ts'
import { figure } from './harness/figures.ts'

const TABLES = 10

function tableMigration(n: number): Migration {
  const id = String(n).padStart(2, '0')
  return defineMigration({
    id: `00${id}_table_${id}`,
    checksum: `bench-table-${id}`,
    up: async ({ client, model }: MigrationContext) => {
      await client.query(`create table t${id} (id bigint generated always as identity primary key, name text not null${model === 'shared' ? ', tenant_id uuid not null' : ''})`)
      if (model === 'shared') await client.query(`create index on t${id} (tenant_id, id)`)
    },
  })
}

const addColumn = defineMigration({
  id: '0100_add_note',
  checksum: 'bench-add-note',
  up: 'alter table t01 add column note text; create index t01_note_idx on t01 (note)',
  // (c) rolls the databases back between rounds.
  down: 'drop index t01_note_idx; alter table t01 drop column note',
})

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

/** A second, one-tenant fleet in a database of its own: the baseline of (a). */
async function smallFleet(backend: Parameters<Benchmark['run']>[0]['backend'], set: readonly Migration[]): Promise<{ run: () => Promise<number> }> {
  // On the same footing as the big fleet: an embedded folder on PGlite, a database of its own on PostgreSQL.
  const { database, close } = await ownDatabase(backend, 'tenantry_bench_small')
  const role = backend.uniqueName('tenantry_bench_small')
  backend.dropRoleAtClose(role)
  // The small fleet as an app sets it up: migrated at start, one tenant created.
  const small = await createTenantry({
    database,
    models: { shared: { tables: ['t01'] }, schema: true },
    migrations: { tenant: set },
    runtimeRole: role,
    doctor: 'off',
  })
  backend.atClose(async () => {
    await small.close()
    await close()
  })
  await small.tenants.create({ slug: 'only-tenant', name: 'Only tenant', isolation: 'schema' })
  const migrator = small.migrator
  return {
    run: () => timed(async () => {
      const summary = await migrator.migrate()
      if (summary.visited !== 0) throw new Error(`the 1-tenant no-op run visited ${summary.visited} targets`)
    }),
  }
}

export const benchmark: Benchmark = {
  name: 'migrate',
  summary: 'fleet migrations: no-op cost at 1,000 tenants vs 1; add a column + index to 1,000 schemas and 100 databases vs one tenant x N / concurrency',
  defaults: (backend) => ({ rounds: 7, seconds: 0, warmupSeconds: 0, concurrency: backend === 'pglite' ? 1 : 8 }),
  async run({ backend, settings, quick, log }): Promise<BenchOutcome> {
    const schemaTenants = quick ? 20 : Number(process.env.TENANTRY_BENCH_TENANTS ?? 1000)
    const databaseTenants = quick ? 3 : backend.name === 'pglite' ? 10 : 100
    const concurrency = backend.name === 'pglite' ? 1 : settings.concurrency
    const role = backend.uniqueName('tenantry_bench_app')
    backend.dropRoleAtClose(role)
    const v1 = Array.from({ length: TABLES }, (_, i) => tableMigration(i + 1))
    const v2 = [...v1, addColumn]
    // The fleet as an app sets it up: the bench's database (PGlite: an embedded folder), the three models, v1 at start.
    let dataDir: string | undefined
    if (backend.name === 'pglite') dataDir = await mkdtemp(join(tmpdir(), 'tenantry-bench-migrate-'))
    const fleet = await createTenantry({
      database: dataDir !== undefined ? { embedded: dataDir } : { url: await benchDatabaseUrl({ backend }), poolSize: concurrency + 2 },
      models: { shared: { tables: ['t01'] }, schema: true, database: { budget: Math.max(4, concurrency * 2) } },
      migrations: { tenant: v1 },
      runtimeRole: role,
      doctor: 'off',
    })
    const onboarded: TenantRecord[] = []
    backend.atClose(async () => {
      for (const tenant of onboarded.filter((t) => t.isolation === 'database')) await fleet.tenants.offboard(tenant.id).catch(() => undefined)
      await fleet.close()
      if (dataDir) await rm(dataDir, { recursive: true, force: true })
    })
    const control = fleet.target
    const migrator = (set: readonly Migration[]) => new FleetMigrator({ control, tenantMigrations: set, ...fleet.models })
    const noopBig = async (): Promise<number> => timed(async () => {
      const summary = await fleet.migrator.migrate({ concurrency })
      if (summary.visited !== 0) throw new Error(`a no-op run of the whole fleet visited ${summary.visited} targets`)
    })
    const onboard = async (slug: string, isolation: 'schema' | 'database'): Promise<void> => {
      onboarded.push(await fleet.tenants.create({ slug, name: slug, isolation }))
    }
    log(`onboarding ${schemaTenants} schema tenants (${TABLES} tables each) and a 1-tenant fleet in another database`)
    const onboardStarted = performance.now()
    for (let i = 0; i < schemaTenants; i++) {
      await onboard(`tenant-${String(i).padStart(4, '0')}`, 'schema')
      if (i % 100 === 99) log(`  ${i + 1} onboarded`)
    }
    const onboardMs = performance.now() - onboardStarted
    const small = await smallFleet(backend, v1)
    const noopOne: number[] = []
    const noopMany: number[] = []
    for (let round = 0; round < settings.rounds + 2; round++) {
      // Alternate which goes first; the first two rounds warm up.
      const pair = round % 2 === 0 ? [await small.run(), await noopBig()] : [await noopBig(), await small.run()].reverse()
      if (round >= 2) {
        noopOne.push(pair[0]!)
        noopMany.push(pair[1]!)
      }
    }
    log(`no-op: 1 tenant ${median(noopOne).toFixed(2)} ms, ${schemaTenants} tenants ${median(noopMany).toFixed(2)} ms`)

    // (b) in rounds, as (c): one schema tenant alone, then the rest of the fleet (and the shared tables) at once,
    // then every target rolled back (untimed); one migrator for every run, warmed once (untimed).
    const ddlConcurrency = backend.name === 'pglite' ? 1 : Math.max(1, Math.min(concurrency, availableParallelism()))
    const previous = v1.at(-1)!.id
    const schemaMigrator = migrator(v2)
    const warmSlug = 'tenant-0000'
    await schemaMigrator.migrate({ scope: { kind: 'tenant', slug: warmSlug } })
    await schemaMigrator.down({ to: previous, scope: { kind: 'tenant', slug: warmSlug } })
    const schemaRounds = quick ? 1 : Math.min(settings.rounds, 3)
    const oneSchemaRuns: number[] = []
    const oneSchemaOwn: number[] = []
    const fleetSchemaRuns: number[] = []
    let fleetTargets = 0
    for (let round = 0; round < schemaRounds; round++) {
      const slug = `tenant-${String(round + 1).padStart(4, '0')}`
      let ownMs = NaN
      const ms = await timed(async () => {
        const summary = await schemaMigrator.migrate({ scope: { kind: 'tenant', slug }, onEvent: (e) => { if (e.type === 'target-done') ownMs = e.outcome.durationMs } })
        if (summary.migrated !== 1) throw new Error(`(b) expected ${slug} migrated alone, got ${JSON.stringify({ ...summary, failed: summary.failed.map((f) => f.error?.message) })}`)
      })
      let fleetSummary: Awaited<ReturnType<FleetMigrator['migrate']>> | undefined
      const all = await timed(async () => { fleetSummary = await schemaMigrator.migrate({ concurrency: ddlConcurrency }) })
      if (!fleetSummary?.ok || fleetSummary.migrated < schemaTenants - 1) throw new Error(`(b) expected ${schemaTenants - 1} schema targets and the shared tables migrated, got ${JSON.stringify({ ...fleetSummary, failed: fleetSummary?.failed.map((f) => f.error?.message) })}`)
      fleetTargets = fleetSummary.migrated
      const back = await schemaMigrator.down({ to: previous, concurrency: ddlConcurrency })
      if (!back.ok) throw new Error(`(b) could not roll the fleet back: ${back.failed.map((f) => f.error?.message).join('; ')}`)
      log(`(b) round ${round + 1}: one tenant ${ms.toFixed(1)} ms (its own migration ${ownMs.toFixed(1)} ms), the other ${fleetTargets} targets ${all.toFixed(0)} ms`)
      oneSchemaRuns.push(ms)
      oneSchemaOwn.push(ownMs)
      fleetSchemaRuns.push(all)
    }
    // The fleet at v2 again for (c), untimed.
    const restored = await schemaMigrator.migrate({ concurrency: ddlConcurrency })
    if (!restored.ok) throw new Error('(b) could not migrate the fleet to v2 again')
    const oneSchema = median(oneSchemaRuns)
    const fleetSchema = median(fleetSchemaRuns)
    const expectedSchema = median(oneSchemaRuns.map((one, i) => (one - oneSchemaOwn[i]!) + (fleetTargets * oneSchemaOwn[i]!) / ddlConcurrency))
    log(`(b) one tenant ${oneSchema.toFixed(1)} ms; ${fleetTargets} targets in ${fleetSchema.toFixed(0)} ms (median of ${fleetSchemaRuns.length}), ideal ${expectedSchema.toFixed(0)} ms`)

    // (c) tenant databases, in rounds (see the header): one migrator for every run, warmed once.
    log(`onboarding ${databaseTenants} tenant databases`)
    for (let i = 0; i < databaseTenants; i++) await onboard(`db-${String(i).padStart(4, '0')}`, 'database')
    // Onboarded at v1: v2's 0100 is pending for each of them.
    const databases = onboarded.filter((t) => t.isolation === 'database')
    const dbMigrator = migrator(v2)
    // Its first run installs the models' guard and roles (once per migrator): a run with nothing to do pays that, untimed.
    await dbMigrator.migrate({ scope: { kind: 'shared' } })
    // A run ends when its last tenant database's connection has closed: the migrator closes each as
    // it is done, and a fleet run's window holds all but its last few closes, so a single run's must hold its one.
    const router = fleet.models.database!.router
    const connectionsClosed = async (): Promise<void> => {
      while (router.stats().closingConnections > 0) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    const alone = async (slug: string): Promise<{ ms: number; ownMs: number }> => {
      let ownMs = NaN
      let returned = NaN
      const ms = await timed(async () => {
        const summary = await dbMigrator.migrate({ scope: { kind: 'tenant', slug }, onEvent: (e) => { if (e.type === 'target-done') ownMs = e.outcome.durationMs } })
        returned = performance.now()
        if (summary.migrated !== 1) throw new Error(`(c) expected ${slug} migrated alone, got ${JSON.stringify({ ...summary, failed: summary.failed.map((f) => f.error?.message) })}`)
        await connectionsClosed()
      })
      return { ms, ownMs: ownMs + (performance.now() - returned) }
    }
    const together = (expected: number, atOnce: number): Promise<number> => timed(async () => {
      const summary = await dbMigrator.migrate({ concurrency: atOnce })
      if (!summary.ok || summary.migrated !== expected) throw new Error(`(c) expected ${expected} databases migrated, got ${JSON.stringify({ ...summary, failed: summary.failed.map((f) => f.error?.message) })}`)
      await connectionsClosed()
    })
    const rollBack = async (slug: string): Promise<void> => {
      const summary = await dbMigrator.down({ to: v1.at(-1)!.id, scope: { kind: 'tenant', slug } })
      if (!summary.ok) throw new Error(`(c) could not roll ${slug} back: ${summary.failed.map((f) => f.error?.message).join('; ')}`)
    }
    const dbRounds = quick ? 2 : settings.rounds
    const oneDb: number[] = []
    const oneDbOwn: number[] = []
    const fleetDb: number[] = []
    for (let round = 0; round <= dbRounds; round++) {
      // The first round warms up (the databases were just created) and is not counted.
      const slug = databases[round % databases.length]!.slug
      const first = await alone(slug)
      const all = await together(databases.length - 1, ddlConcurrency)
      await rollBack(slug)
      await connectionsClosed()
      const again = await alone(slug)
      for (const t of databases) await rollBack(t.slug)
      await connectionsClosed()
      log(`(c) round ${round}${round === 0 ? ' (warm-up)' : ''}: one tenant ${first.ms.toFixed(1)} / ${again.ms.toFixed(1)} ms (its own migration ${first.ownMs.toFixed(1)} / ${again.ownMs.toFixed(1)} ms), the other ${databases.length - 1} ${all.toFixed(0)} ms`)
      if (round === 0) continue
      oneDb.push(first.ms, again.ms)
      oneDbOwn.push(first.ownMs, again.ownMs)
      fleetDb.push(all)
    }
    const oneDatabase = median(oneDb)
    const fleetDatabase = median(fleetDb)
    // The ideal of a sample: the run's own cost (fleet lock, plan, checksum guard: what a fleet run pays
    // once, however many tenants) once, plus the tenant's own migration x N / concurrency.
    const idealOf = (i: number, n: number, atOnce: number): number => (oneDb[i]! - oneDbOwn[i]!) + (n * oneDbOwn[i]!) / atOnce
    const expectedDatabase = median(oneDb.map((_, i) => idealOf(i, databaseTenants - 1, ddlConcurrency)))
    log(`(c) one database ${oneDatabase.toFixed(1)} ms (its own migration ${median(oneDbOwn).toFixed(1)} ms; median of ${oneDb.length}); ${databaseTenants - 1} more, ${ddlConcurrency} at once, in ${fleetDatabase.toFixed(0)} ms (median of ${fleetDb.length}), ideal ${expectedDatabase.toFixed(0)} ms`)
    // For the record: every database at the benchmark's concurrency (all are at v1 again).
    const atSettings = ddlConcurrency === concurrency ? undefined : await together(databases.length, concurrency)
    if (atSettings !== undefined) log(`(c) all ${databaseTenants} at ${concurrency} at once: ${atSettings.toFixed(0)} ms`)

    const figures = [
      figure({ metric: `noop_run_${schemaTenants}_tenants`, value: median(noopMany), unit: 'ms', baseline: median(noopOne), better: 'lower', goal: 0.5, digits: 2 }),
      figure({ metric: `add_column_index_${schemaTenants - 1}_schemas`, value: fleetSchema, unit: 'ms', baseline: expectedSchema, better: 'lower', goal: 0.667, digits: 0 }),
      figure({ metric: `add_column_index_${databaseTenants - 1}_databases`, value: fleetDatabase, unit: 'ms', baseline: expectedDatabase, better: 'lower', goal: 0.667, digits: 0 }),
      ...(atSettings === undefined ? [] : [figure({ metric: `add_column_index_${databaseTenants}_databases_at_${concurrency}`, value: atSettings, unit: 'ms', baseline: median(oneDb.map((_, i) => idealOf(i, databaseTenants, concurrency))), better: 'lower', digits: 0 })]),
      figure({ metric: 'one_schema_tenant_migration', value: oneSchema, unit: 'ms', better: 'lower', digits: 1 }),
      figure({ metric: 'one_database_tenant_migration', value: oneDatabase, unit: 'ms', better: 'lower', digits: 1 }),
      figure({ metric: 'onboard_schema_tenant', value: onboardMs / Math.max(1, schemaTenants - 1), unit: 'ms', better: 'lower', digits: 1 }),
    ]
    const notes = [
      `Fleet: the shared tables plus ${schemaTenants} schema tenants with ${TABLES} tables each (${schemaTenants * TABLES} tenant tables), then ${databaseTenants} tenant databases; concurrency ${concurrency}${backend.name === 'pglite' ? ' (PGlite is one connection, so runs are serial)' : ''}.`,
      `(a) no-op run: median of ${settings.rounds} interleaved rounds after 2 warm-up rounds, a 1-tenant fleet (its own database) against the ${schemaTenants}-tenant fleet; each run takes the fleet lock, reads two heads and runs one query over tenants joined to their ledger heads. Runs: 1 tenant ${noopOne.map((t) => t.toFixed(1)).join(', ')} ms; ${schemaTenants} tenants ${noopMany.map((t) => t.toFixed(1)).join(', ')} ms.`,
      `(b) \`alter table t01 add column note text; create index on t01 (note)\` on every target, in ${schemaRounds} rounds as (c) below: one schema tenant alone, then the other ${fleetTargets} targets (${schemaTenants - 1} schema tenants and the shared tables) with ${ddlConcurrency} at once, then every target rolled back (untimed); one migrator for every run, warmed once (untimed). Ideal = the one-tenant run's own cost once + the tenant's own migration x ${fleetTargets} / ${ddlConcurrency}. One tenant alone: ${oneSchemaRuns.map((t) => t.toFixed(1)).join(', ')} ms, of which its own migration ${oneSchemaOwn.map((t) => t.toFixed(1)).join(', ')} ms; the fleet: ${fleetSchemaRuns.map((t) => t.toFixed(0)).join(', ')} ms. Until 2026-12-05 this figure was one cold run of one tenant x ${schemaTenants - 1} / ${concurrency}.`,
      `(c) the same migration on ${databaseTenants} tenant databases, in ${dbRounds} rounds after a warm-up round: one tenant alone, the other ${databaseTenants - 1} with ${ddlConcurrency} at once, the one tenant rolled back and alone again, then all rolled back (untimed). One migrator for every run, installed once (untimed): the one tenant is as warm as the fleet's targets, and each opens a new connection to its database. Ideal of a fleet run = the one-tenant run's own cost (fleet lock, plan, checksum guard over the whole ledger: paid once per run, however many tenants) + the tenant's own migration (connect, transaction, DDL, ledger, walls, record in the control plane, its connection closed) x ${databaseTenants - 1} / ${ddlConcurrency}; figure: median fleet time against the median ideal. One tenant alone: ${oneDb.map((t) => t.toFixed(1)).join(', ')} ms, of which its own migration ${oneDbOwn.map((t) => t.toFixed(1)).join(', ')} ms; the other ${databaseTenants - 1}: ${fleetDb.map((t) => t.toFixed(0)).join(', ')} ms.`,
      `(c) until #13 (item 6) one tenant's time came from a single cold run x ${databaseTenants - 1} / ${concurrency}: a new migrator's first run (installing the models' guard and roles, 14-25 ms), the run's own cost (12-18 ms with 1,000 schema tenants) and the tenant's own migration (5-17 ms), all multiplied by 12.4, so one-off costs set the figure (0.43 to 1.44 across runs). Counting the run's own cost x ${databaseTenants - 1} / ${ddlConcurrency} too, as that method did, this run's ideal would be ${((oneDatabase * (databaseTenants - 1)) / ddlConcurrency).toFixed(0)} ms (ratio ${((oneDatabase * (databaseTenants - 1)) / ddlConcurrency / fleetDatabase).toFixed(2)}).`,
      `(c) concurrency ${ddlConcurrency}: ${backend.name === 'pglite' ? 'PGlite is one connection.' : `the machine's ${availableParallelism()} cores. A database's migration is CPU work in Node and in PostgreSQL, which share these cores, so with more at once the fleet finishes only somewhat sooner (the waits of each run, round trips and WAL flushes, get filled) and never ${concurrency}/${ddlConcurrency} times sooner: one tenant x N / ${concurrency} would rate the core count, not the migrator.`}${atSettings === undefined ? '' : ` For the record, all ${databaseTenants} databases with ${concurrency} at once (figure add_column_index_${databaseTenants}_databases_at_${concurrency}, no goal): ${atSettings.toFixed(0)} ms, ${(atSettings / databaseTenants).toFixed(1)} ms per database against ${(fleetDatabase / (databaseTenants - 1)).toFixed(1)} ms with ${ddlConcurrency} at once.`}`,
      `Onboarding (create in the catalog, create the schema, apply ${TABLES} migrations, activate) took ${(onboardMs / Math.max(1, schemaTenants - 1)).toFixed(1)} ms per schema tenant.`,
      'The machine has 2 cores shared by the benchmark, the database server and other work: absolute times are noisy; the ratios compare runs made minutes apart in one process.',
    ]
    return { figures, notes }
  },
}
