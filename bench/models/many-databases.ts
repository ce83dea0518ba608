/**
 * Part (b) of `models`: many tenant databases behind one pool router with a
 * global connection budget, under Zipf-distributed traffic; the one-database
 * unscoped point select as the baseline, in the same interleaved rounds.
 */
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { isTenantryError, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { DatabasePerTenantIsolation, PoolRouter, TenantData, type DatabaseKey, type PoolRouterStats } from '@tenantry/postgres'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { postgresUrlFromEnv, type BackendName } from '../harness/backend.ts'
import type { BenchContext, RunSettings } from '../harness/benchmark.ts'
import { figure, type Figure } from '../harness/figures.ts'
import { drive, measureInRounds, median, percentile, summarize, type RoundSample, type Variant } from '../harness/rounds.ts'
import type { Workload, WorkloadTenant } from '../isolation/workload.ts'
import { ServerConnectionSampler, countedDatabases, type SampledPeak } from './connection-watch.ts'
import type { TenantDatabaseHost } from './tenant-databases.ts'
import { ROWS_PER_TENANT, checkPointRow, pointSelect, type ModelsDB } from './tenant-items.ts'
import { ZipfSampler, seededRandom, shuffledIndexes } from './zipf.ts'

/** Sets how many tenant databases part (b) makes, instead of the backend's default. */
export const DATABASES_ENV = 'TENANTRY_BENCH_MODELS_DATABASES'

/** How big part (b) is on one backend, and why. */
export interface ManyDatabasesPlan {
  /** Tenant databases to make (fewer if the creation time limit or an error stops it). */
  readonly wanted: number
  readonly budget: number
  readonly maxPerDatabase: number
  readonly clients: number
  readonly zipfExponent: number
  readonly createConcurrency: number
  readonly createLimitSeconds: number
  readonly coldSamples: number
  /** Seconds each variant runs per round. */
  readonly seconds: number
  /** Connections of the baseline's one-database pool (PGlite: its single connection). */
  readonly baselineConnections: number
  /** Why this size, for the notes. */
  readonly why: string
}

function databasesFromEnv(): number | undefined {
  const raw = process.env[DATABASES_ENV]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 2) throw new Error(`${DATABASES_ENV} must be an integer ≥ 2, got "${raw}"`)
  return n
}

export function manyDatabasesPlan(backend: BackendName, context: Pick<BenchContext, 'quick' | 'settings'>): ManyDatabasesPlan {
  const { quick, settings } = context
  const wanted = databasesFromEnv()
  if (backend === 'pglite') {
    // Each database is a PGlite instance: ~0.3 s to open (0.8 s to create) and ~150 MB in memory.
    return {
      wanted: wanted ?? (quick ? 6 : 20),
      budget: quick ? 2 : 4,
      maxPerDatabase: 1,
      clients: 8,
      zipfExponent: 1.1,
      createConcurrency: 1,
      createLimitSeconds: 120,
      coldSamples: quick ? 3 : 10,
      seconds: settings.seconds * 3,
      baselineConnections: 1,
      why: 'PGlite: 20 databases and a budget of 4 instances, because each tenant database is a PGlite instance that takes ~0.3 s to open (~0.7 s to create) and ~150 MB of memory; 4 open at once is what a small server could hold beside the app. Every query that misses the 4 open ones pays a whole instance open.',
    }
  }
  return {
    wanted: wanted ?? (quick ? 50 : 1000),
    budget: 50,
    // Small: with 1,000 databases behind 50 connections, keeping more databases warm
    // matters more than parallelism inside one (a point select takes ~0.3 ms).
    maxPerDatabase: 2,
    clients: quick ? 16 : 32,
    zipfExponent: 1.1,
    createConcurrency: 3,
    createLimitSeconds: 240,
    coldSamples: quick ? 20 : 100,
    seconds: settings.seconds * 2,
    // Not 50: during the rounds the router's connections stay open beside these (max_connections is 100).
    baselineConnections: 16,
    why: 'PostgreSQL: 1,000 databases (the most asked for): from a template each takes ~30-45 ms to create and ~45 ms to drop on this 2-core box, so making and dropping them all costs under 2 minutes and the whole run stays within ~4 minutes. Stops early (and says so) after 240 s of creating or at the first failure.',
  }
}

interface Created {
  readonly tenants: ScopedTenant[]
  readonly seconds: number
  /** Why fewer than wanted were made, if so. */
  readonly stoppedBy: string | undefined
}

/** Provisions up to `plan.wanted` databases from the template, `createConcurrency` at a time, within the time limit. */
async function createDatabases(databases: DatabasePerTenantIsolation, host: TenantDatabaseHost, plan: ManyDatabasesPlan, log: (m: string) => void): Promise<Created> {
  const made: ScopedTenant[] = []
  let next = 0
  let stoppedBy: string | undefined
  const started = performance.now()
  const elapsed = (): number => (performance.now() - started) / 1000
  async function worker(): Promise<void> {
    while (stoppedBy === undefined && next < plan.wanted) {
      if (elapsed() > plan.createLimitSeconds) {
        stoppedBy = `the ${plan.createLimitSeconds} s creation time limit`
        break
      }
      const index = ++next
      const tenant: ScopedTenant = {
        id: randomUUID(),
        slug: `many-${String(index).padStart(4, '0')}`,
        status: 'active',
        isolation: 'database',
        placement: { database: host.name('many', index) },
      }
      try {
        const placement = await databases.provision(tenant)
        made.push({ ...tenant, placement })
      } catch (error) {
        stoppedBy ??= `an error creating database ${index}: ${(error as Error).message}`
      }
      if (made.length % 100 === 0 && made.length > 0) log(`(b) ${made.length} databases in ${elapsed().toFixed(1)} s`)
    }
  }
  await Promise.all(Array.from({ length: plan.createConcurrency }, worker))
  return { tenants: made, seconds: elapsed(), stoppedBy }
}

function routerDelta(after: PoolRouterStats, before: PoolRouterStats) {
  return {
    poolOpens: after.poolOpens - before.poolOpens,
    connectionOpens: after.connectionOpens - before.connectionOpens,
    reclaimed: after.reclaimed - before.reclaimed,
    timeouts: after.timeouts - before.timeouts,
    evictions: {
      idle: after.evictions.idle - before.evictions.idle,
      lru: after.evictions.lru - before.evictions.lru,
      budget: after.evictions.budget - before.evictions.budget,
    },
  }
}

/** What part (b) hands back. */
export interface ManyDatabasesOutcome {
  readonly figures: Figure[]
  readonly notes: string[]
}

const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`

/** First-query latency of databases whose pool is closed, against their second query. */
interface ColdOpens {
  /** Ascending, µs. */
  readonly cold: number[]
  readonly warm: number[]
  /** How many had to close another database's idle connection first (budget full). */
  readonly reclaims: number
}

/**
 * One at a time with nothing else running: each of `tenants` is evicted (its
 * pool closed), then its first query (connect + query) and its second are timed.
 */
async function measureColdOpens(router: PoolRouter, db: Kysely<ModelsDB>, tenants: readonly ScopedTenant[]): Promise<ColdOpens> {
  const reclaimedBefore = router.stats().reclaimed
  const cold: number[] = []
  const warm: number[] = []
  const timeQuery = async (tenant: ScopedTenant): Promise<number> => {
    const id = 1 + Math.floor(Math.random() * ROWS_PER_TENANT)
    const t0 = performance.now()
    const rows = await runWithTenant(tenant, () => pointSelect(db, id).execute())
    const us = (performance.now() - t0) * 1000
    checkPointRow(rows, id, undefined, `cold/${tenant.slug}`)
    return us
  }
  for (const tenant of tenants) {
    await router.evict(tenant.placement as DatabaseKey)
    cold.push(await timeQuery(tenant))
    warm.push(await timeQuery(tenant))
  }
  const ascending = (a: number, b: number): number => a - b
  return { cold: cold.sort(ascending), warm: warm.sort(ascending), reclaims: router.stats().reclaimed - reclaimedBefore }
}

/** Everything part (b) measured, for the figures and notes. */
interface ManyDatabasesRun {
  readonly backend: BackendName
  readonly plan: ManyDatabasesPlan
  readonly created: Created
  readonly dropSeconds: number
  readonly samples: Map<string, RoundSample[]>
  readonly delta: ReturnType<typeof routerDelta>
  /** The router just after the rounds, and at the end. */
  readonly steady: PoolRouterStats
  readonly final: PoolRouterStats
  readonly budgetTimeouts: number
  readonly coldOpens: ColdOpens
  /** PostgreSQL: pg_stat_activity; PGlite: instances counted around the router's connects. */
  readonly peak: number
  readonly sampled: SampledPeak | undefined
  readonly countedPeak: number
  readonly zipf: ZipfSampler
  readonly load: readonly [number, number, number]
}

function report(run: ManyDatabasesRun): ManyDatabasesOutcome {
  const { plan, created, delta, steady, final, coldOpens: { cold, warm }, peak } = run
  const made = created.tenants.length
  const base = summarize(run.samples.get('baseline') ?? [])
  const many = summarize(run.samples.get('many_db') ?? [])
  const queries = (run.samples.get('many_db') ?? []).reduce((sum, r) => sum + r.ops, 0)
  const connectionUnit = run.backend === 'postgres' ? 'server connections' : 'PGlite instances'
  const evictions = delta.evictions.idle + delta.evictions.lru + delta.evictions.budget
  const figures: Figure[] = [
    figure({ metric: 'many_db_databases', value: made, unit: 'databases', baseline: plan.wanted, better: 'higher', digits: 0 }),
    figure({ metric: 'many_db_create_per_database', value: (created.seconds * 1000) / made, unit: 'ms', better: 'lower' }),
    figure({ metric: 'many_db_drop_per_database', value: (run.dropSeconds * 1000) / made, unit: 'ms', better: 'lower' }),
    figure({ metric: 'many_db_baseline', value: base.opsPerSecond, unit: 'ops/s', baseline: base.opsPerSecond, better: 'higher', digits: 0 }),
    figure({ metric: 'many_db', value: many.opsPerSecond, unit: 'ops/s', baseline: base.opsPerSecond, better: 'higher', digits: 0 }),
    figure({ metric: 'many_db_p50', value: many.p50Us / 1000, unit: 'ms', baseline: base.p50Us / 1000, better: 'lower', digits: 2 }),
    figure({ metric: 'many_db_p99', value: many.p99Us / 1000, unit: 'ms', baseline: base.p99Us / 1000, better: 'lower', digits: 2 }),
    figure({ metric: 'many_db_cold_open_p50', value: percentile(cold, 0.5) / 1000, unit: 'ms', baseline: percentile(warm, 0.5) / 1000, better: 'lower', digits: 2 }),
    figure({ metric: 'many_db_cold_open_p99', value: percentile(cold, 0.99) / 1000, unit: 'ms', baseline: percentile(warm, 0.99) / 1000, better: 'lower', digits: 2 }),
    figure({ metric: 'many_db_pool_opens', value: delta.poolOpens, unit: 'pool opens', better: 'lower', digits: 0 }),
    figure({ metric: 'many_db_cold_query_share', value: queries ? (100 * delta.poolOpens) / queries : Number.NaN, unit: '% of queries', better: 'lower', digits: 2 }),
    figure({ metric: 'many_db_evictions', value: evictions, unit: 'pools closed', better: 'lower', digits: 0 }),
    figure({ metric: 'many_db_budget_timeouts', value: run.budgetTimeouts, unit: 'queries', better: 'lower', digits: 0 }),
    figure({ metric: 'many_db_peak_server_connections', value: peak, unit: connectionUnit, baseline: plan.budget, better: 'lower', goal: 1, digits: 0 }),
    figure({ metric: 'many_db_peak_router_connections', value: final.peakOpenConnections, unit: 'connections', baseline: plan.budget, better: 'lower', goal: 1, digits: 0 }),
  ]

  const held = steady.databases.map((d) => d.openConnections).sort((a, b) => b - a).slice(0, 10)
  const heldByTop = held.reduce((sum, n) => sum + n, 0)
  const baseRounds = run.samples.get('baseline') ?? []
  const perRound = (run.samples.get('many_db') ?? []).map((r, i) => (r.opsPerSecond / (baseRounds[i]?.opsPerSecond ?? Number.NaN)).toFixed(3))
  const tops = [...new Set([1, 10, plan.budget])].filter((k) => k < made).sort((a, b) => a - b)
  const topShares = `the top ${tops.join(' / ')} databases get ${tops.map((k) => `${(100 * run.zipf.share(k)).toFixed(0)}%`).join(' / ')} of queries`
  const peakHow = run.backend === 'postgres'
    ? `server connections peaked at ${peak} (backends in pg_stat_activity connected to a tenant database of this run, sampled every ${run.sampled?.intervalMs.toFixed(0) ?? '?'} ms (median gap) from a separate admin connection: ${run.sampled?.samples ?? 0} samples from before the warm-up to after the cold opens); connections counted around the router's connects (start of connect to end of close) peaked at ${run.countedPeak}`
    : `PGlite instances open at once peaked at ${peak} (counted exactly around the router's connects, from the start of an open to the end of its close)`
    const notes = [
    `(b) Scale: ${plan.why}`,
    `(b) ${made} tenant databases${made < plan.wanted ? ` of ${plan.wanted} wanted (stopped by ${created.stoppedBy ?? '?'})` : ''}, each a copy of a template holding the ${ROWS_PER_TENANT}-row \`items\` table, created in ${created.seconds.toFixed(1)} s ` +
      `(${plan.createConcurrency} at a time through \`DatabasePerTenantIsolation.provision\`${run.backend === 'postgres' ? ', i.e. `create database … template …`' : ' with a `dumpDataDir()` template'}) and dropped one by one with \`deprovision\` in ${run.dropSeconds.toFixed(1)} s.`,
    `(b) Traffic: ${plan.clients} clients, each query a point select on a Zipf-drawn tenant (s = ${plan.zipfExponent}; ${topShares}), through TenantData and a PoolRouter with budget ${plan.budget}, at most ${plan.maxPerDatabase} per database, acquire timeout 10 s, idle timeout 30 s. ` +
      `Baseline: the same clients, the unscoped point select on the shared table of part (a) (one database) over one pool of ${plan.baselineConnections} connection${plan.baselineConnections === 1 ? '' : 's'}. ${plan.seconds} s per variant per round, after a warm-up.`,
    `(b) During the ${run.samples.get('many_db')?.length ?? 0} measured rounds (${queries} queries): ${delta.poolOpens} pool opens (cold), ${delta.connectionOpens} connections opened, ${delta.reclaimed} idle connections closed to lend their permit to another database, evictions ${delta.evictions.budget} for the budget / ${delta.evictions.lru} LRU / ${delta.evictions.idle} idle, ${run.budgetTimeouts} acquires timed out; after them ${steady.poolsOpen} databases had a pool and ${steady.openConnections} connections were open, ${heldByTop} of them held by the ${held.length} databases with the most (${held.join(', ')}). Ratio of ops/s to the baseline, round by round: ${perRound.join(' ')}.`,
    `(b) Cold open, measured separately after the rounds with nothing else running: the ${cold.length} least popular databases, each evicted first, then timed on its first query (cold: connect + query${run.coldOpens.reclaims > 0 ? `; ${run.coldOpens.reclaims} of them first closed another database's idle connection, the budget being full` : ''}) and on its second (warm, the figure's baseline): cold median ${ms(median(cold))}, p99 ${ms(percentile(cold, 0.99))}; warm median ${ms(median(warm))}.`,
    `(b) Asserted: ${peakHow}; the router's own count peaked at ${final.peakOpenConnections}. Budget ${plan.budget}: ${isWithinBudget(run) ? 'held' : '**exceeded**'}.`,
    `(b) Load average (1 min, ${os.cpus().length} cores): ${run.load[0].toFixed(1)} at the start of (b), ${run.load[1].toFixed(1)} at its rounds, ${run.load[2].toFixed(1)} after them.`,
  ]
  return { figures, notes }
}

function isWithinBudget(run: ManyDatabasesRun): boolean {
  return [run.peak, run.countedPeak, run.final.peakOpenConnections].every((n) => n <= run.plan.budget)
}

export async function runManyDatabases(context: BenchContext, host: TenantDatabaseHost, workload: Workload): Promise<ManyDatabasesOutcome> {
  const { backend, log } = context
  const plan = manyDatabasesPlan(backend.name, context)
  const loadAtStart = os.loadavg()[0] ?? 0

  // Counted independently of the router: on PGlite the only count of instances in memory.
  const counted = countedDatabases(host.databases('many'))
  const router = new PoolRouter({ databases: counted.databases, budget: plan.budget, maxPerDatabase: plan.maxPerDatabase, acquireTimeoutMs: 10_000 })
  backend.atClose(() => router.close())
  const databases = new DatabasePerTenantIsolation({ router, provisioner: await host.provisioner('many', true) })

  log(`(b) creating up to ${plan.wanted} tenant databases from a template, ${plan.createConcurrency} at a time`)
  const created = await createDatabases(databases, host, plan, log)
  const tenants = created.tenants
  log(`(b) made ${tenants.length} databases in ${created.seconds.toFixed(1)} s${created.stoppedBy ? `; stopped by ${created.stoppedBy}` : ''}`)
  if (tenants.length < 2) throw new Error(`(b) needs at least 2 tenant databases, made ${tenants.length}${created.stoppedBy ? ` (stopped by ${created.stoppedBy})` : ''}`)

  const adminUrl = postgresUrlFromEnv()
  const sampler = backend.name === 'postgres' && adminUrl ? new ServerConnectionSampler(adminUrl, host.groupPrefix('many')) : undefined
  const baselinePool = backend.name === 'postgres' ? new pg.Pool({ ...backend.target.pool.options, max: plan.baselineConnections }) : undefined
  let baselineEnded: Promise<void> | undefined
  const endBaselinePool = (): Promise<void> => (baselineEnded ??= baselinePool?.end() ?? Promise.resolve())
  backend.atClose(endBaselinePool)
  try {
    await sampler?.start()
    const baselineDb = new Kysely<ModelsDB>({ dialect: new PostgresDialect({ pool: baselinePool ?? backend.target.pool }) })
    const db = new TenantData({ database: databases }).kysely<ModelsDB>()
    // Popularity follows a fixed random order of the tenants, not their creation order.
    const byRank = shuffledIndexes(tenants.length, seededRandom(20261125)).map((i) => tenants[i] as ScopedTenant)
    const zipf = new ZipfSampler(tenants.length, plan.zipfExponent, Math.random)
    let budgetTimeouts = 0

    const manyDb: Variant = {
      name: 'many_db',
      async op() {
        const tenant = byRank[zipf.next()] as ScopedTenant
        const id = 1 + Math.floor(Math.random() * ROWS_PER_TENANT)
        try {
          const rows = await runWithTenant(tenant, () => pointSelect(db, id).execute())
          checkPointRow(rows, id, undefined, `many_db/${tenant.slug}`)
        } catch (error) {
          // Counted and reported: the router's answer when the budget stays full too long.
          if (isTenantryError(error) && error.code === 'CONNECTION_BUDGET_EXHAUSTED') budgetTimeouts += 1
          else throw error
        }
      },
      roundTrips: () => 0,
    }
    const baseline: Variant = {
      name: 'baseline',
      async op() {
        const t = workload.tenants[Math.floor(Math.random() * workload.tenants.length)] as WorkloadTenant
        const id = t.ids[Math.floor(Math.random() * t.ids.length)] as number
        checkPointRow(await pointSelect(baselineDb, id).execute(), id, t.tenant, 'many_db/baseline')
      },
      roundTrips: () => 0,
    }

    const warmup = context.quick ? context.settings.warmupSeconds : Math.max(2, 2 * context.settings.warmupSeconds)
    await drive(baseline, plan.clients, warmup)
    await drive(manyDb, plan.clients, warmup)
    log('(b) warmed up')
    const loadAtRounds = os.loadavg()[0] ?? 0
    const before = router.stats()
    const rounds: RunSettings = { ...context.settings, seconds: plan.seconds, warmupSeconds: 0, concurrency: plan.clients }
    const samples = await measureInRounds([baseline, manyDb], rounds, log, '(b) many_db')
    const steady = router.stats()
    const delta = routerDelta(steady, before)

    const coldOpens = await measureColdOpens(router, db, byRank.slice(-Math.min(plan.coldSamples, byRank.length)).reverse())
    const sampled = await sampler?.stop()
    const final = router.stats()
    await router.close()
    await endBaselinePool()

    log(`(b) dropping ${tenants.length} databases`)
    const dropStarted = performance.now()
    for (const tenant of tenants) await databases.deprovision(tenant)
    const dropSeconds = (performance.now() - dropStarted) / 1000

    const run: ManyDatabasesRun = {
      backend: backend.name,
      plan,
      created,
      dropSeconds,
      samples,
      delta,
      steady,
      final,
      budgetTimeouts,
      coldOpens,
      peak: sampled?.peak ?? counted.peak(),
      sampled,
      countedPeak: counted.peak(),
      zipf,
      load: [loadAtStart, loadAtRounds, os.loadavg()[0] ?? 0],
    }
    if (!isWithinBudget(run)) {
      process.exitCode = 1
      console.error(`ASSERTION FAILED: connections over the budget of ${plan.budget}: sampled ${run.peak}, counted ${run.countedPeak}, router ${final.peakOpenConnections}`)
    }
    return report(run)
  } finally {
    await sampler?.stop().catch(() => undefined)
    await router.close()
    await endBaselinePool().catch(() => undefined)
  }
}
