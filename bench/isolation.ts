/**
 * `isolation` (issue #2, item 8; issue #12, point 8): what the shared model's
 * walls cost per query.
 *
 * 100 tenants × 1,000 rows in one `items` table. Two queries, each timed in nine
 * variants interleaved in the same rounds. Kysely, against an unscoped baseline:
 *
 * - baseline: kysely's own PostgresDialect over the same pool, as the table owner,
 *   the query text with no tenant predicate at all (what an app without
 *   multi-tenancy would send);
 * - plugin: SharedSchemaIsolation with only the Kysely plugin wall;
 * - rls: only the RLS wall (role + tenant setting pipelined with the query);
 * - plugin_rls: both walls, the default (statement cache on, its default);
 * - plugin_rls_uncached: the same with `statementCache: 'off'` (every statement
 *   parsed and planned again, as before the cache);
 * - baseline_cached: the baseline with every query a named prepared statement
 *   (node-postgres' `name`): no tenancy, the same statement reuse; held against
 *   it, plugin_rls is `plugin_rls_vs_cached` (the pure cost of isolation);
 * - naive_rls (reference): BEGIN / set_config / query / COMMIT as four round trips
 *   on a raw pg client, to show what pipelining saves.
 *
 * The scoped pg.Pool (TenantPool, `TenantData.pool()`), each against the same
 * query with no tenancy:
 *
 * - pg_baseline: plain `pg.Pool.query` as the owner, hand-written SQL;
 * - pg_pool: the same SQL through `TenantPool.query` in runWithTenant (RLS is the
 *   only wall: the plugin does not see raw SQL);
 * - drizzle_baseline: Drizzle's query builder (`drizzle-orm/node-postgres`) over
 *   the plain pool;
 * - drizzle_pool: the same builder over the TenantPool, in runWithTenant.
 */
import { runWithTenant } from '@tenantry/core'
import type { BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { median, measureInRounds, summarize, type RoundSample, type Variant } from './harness/rounds.ts'
import { inspect } from './isolation/inspect.ts'
import { checkRows, queryShapes, type QueryShape } from './isolation/queries.ts'
import { prepare, type Setup } from './isolation/setup.ts'
import type { Workload, WorkloadTenant } from './isolation/workload.ts'

type VariantName =
  | 'baseline' | 'baseline_cached' | 'plugin' | 'rls' | 'plugin_rls' | 'plugin_rls_uncached' | 'plugin_rls_vs_cached' | 'naive_rls'
  | 'pg_baseline' | 'pg_pool' | 'drizzle_baseline' | 'drizzle_pool'
/** Timed variants; `plugin_rls_vs_cached` is plugin_rls's own samples held against baseline_cached. */
const TIMED: readonly VariantName[] = ['baseline', 'baseline_cached', 'plugin', 'rls', 'plugin_rls', 'plugin_rls_uncached', 'naive_rls', 'pg_baseline', 'pg_pool', 'drizzle_baseline', 'drizzle_pool']
const VARIANTS: readonly VariantName[] = [...TIMED.slice(0, 6), 'plugin_rls_vs_cached', ...TIMED.slice(6)]

/**
 * What each variant's ratios are taken against: the same query with no tenancy
 * through the same API. The plain pg and Drizzle baselines are themselves held
 * against the Kysely one, for reference (what each API costs without tenancy).
 */
const BASELINE_OF: Record<VariantName, VariantName> = {
  baseline: 'baseline',
  baseline_cached: 'baseline',
  plugin: 'baseline',
  rls: 'baseline',
  plugin_rls: 'baseline',
  plugin_rls_uncached: 'baseline',
  plugin_rls_vs_cached: 'baseline_cached',
  naive_rls: 'baseline',
  pg_baseline: 'baseline',
  pg_pool: 'pg_baseline',
  drizzle_baseline: 'baseline',
  drizzle_pool: 'drizzle_baseline',
}

/** Floors on ops/s relative to the baseline (issue #2, item 8). None for the pool: its ratio is reported, not promised. */
const THROUGHPUT_GOALS: Partial<Record<VariantName, number>> = { plugin: 1, plugin_rls: 1, plugin_rls_vs_cached: 0.9 }
/** Tenantry promises one round trip per query, walls or not: a floor of 1 on baseline/value. */
const ROUND_TRIP_GOALS: Partial<Record<VariantName, number>> = { plugin: 1, rls: 1, plugin_rls: 1, plugin_rls_uncached: 1, pg_pool: 1, drizzle_pool: 1 }

/** Picks tenants round robin, so every variant spreads its queries over all 100 tenants alike. */
function tenantPicker(workload: Workload): () => WorkloadTenant {
  let next = 0
  return () => workload.tenants[next++ % workload.tenants.length] as WorkloadTenant
}

function variantsFor(query: QueryShape, setup: Setup): Variant[] {
  const { baseline, scoped, pool, scopedPool, plainDrizzle } = setup
  const nextTenant = tenantPicker(setup.workload)
  const scopedVariant = (name: 'plugin' | 'rls' | 'plugin_rls' | 'plugin_rls_uncached'): Variant => {
    const { isolation } = scoped[name === 'plugin_rls_uncached' ? 'plugin_rls' : name]
    const db = name === 'plugin_rls_uncached' ? setup.uncached : scoped[name].db
    return {
      name,
      async op() {
        const t = nextTenant()
        const rows = await runWithTenant(t.tenant, () => query.build(db, query.pick(t)).execute())
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/${name}`)
      },
      roundTrips: () => isolation.stats.roundTrips,
    }
  }
  const setScope = `select set_config('role', $1, true), set_config('tenantry.scope', $2, true)`
  return [
    {
      name: 'baseline',
      async op() {
        const t = nextTenant()
        const rows = await query.build(baseline, query.pick(t)).execute()
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/baseline`)
      },
      roundTrips: setup.clientQueries,
    },
    {
      name: 'baseline_cached',
      async op() {
        const t = nextTenant()
        const rows = await query.build(setup.cachedBaseline, query.pick(t)).execute()
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/baseline_cached`)
      },
      roundTrips: setup.clientQueries,
    },
    scopedVariant('plugin'),
    scopedVariant('rls'),
    scopedVariant('plugin_rls'),
    scopedVariant('plugin_rls_uncached'),
    {
      name: 'naive_rls',
      async op() {
        const t = nextTenant()
        // Same builder as the baseline, so only the transaction handling differs.
        const compiled = query.build(baseline, query.pick(t)).compile()
        const client = await pool.connect()
        let failed: Error | undefined
        try {
          await client.query('begin')
          await client.query(setScope, [setup.runtimeRole, setup.scopeToken(t.tenant.id)])
          const result = await client.query<{ tenant_id: string }>(compiled.sql, [...compiled.parameters])
          await client.query('commit')
          checkRows(result.rows, query.expectedRows, t.tenant, `${query.name}/naive_rls`)
        } catch (error) {
          failed = error as Error
          await client.query('rollback').catch(() => undefined)
          throw error
        } finally {
          client.release(failed)
        }
      },
      roundTrips: setup.clientQueries,
    },
    {
      name: 'pg_baseline',
      async op() {
        const t = nextTenant()
        const { rows } = await pool.query<{ tenant_id: string }>(query.sql, [query.pick(t)])
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/pg_baseline`)
      },
      roundTrips: setup.clientQueries,
    },
    {
      name: 'pg_pool',
      async op() {
        const t = nextTenant()
        const { rows } = await runWithTenant(t.tenant, () => scopedPool.pool.query<{ tenant_id: string }>(query.sql, [query.pick(t)]))
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/pg_pool`)
      },
      roundTrips: () => scopedPool.stats.roundTrips,
    },
    {
      name: 'drizzle_baseline',
      async op() {
        const t = nextTenant()
        const rows = await query.drizzle(plainDrizzle, query.pick(t)).execute()
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/drizzle_baseline`)
      },
      roundTrips: setup.clientQueries,
    },
    {
      name: 'drizzle_pool',
      async op() {
        const t = nextTenant()
        const rows = await runWithTenant(t.tenant, () => query.drizzle(scopedPool.drizzle, query.pick(t)).execute())
        checkRows(rows, query.expectedRows, t.tenant, `${query.name}/drizzle_pool`)
      },
      roundTrips: () => scopedPool.stats.roundTrips,
    },
  ]
}


function figuresFor(query: QueryShape['name'], timed: Map<string, RoundSample[]>): { figures: Figure[]; note: string } {
  const samples = new Map(timed)
  samples.set('plugin_rls_vs_cached', timed.get('plugin_rls') ?? [])
  const summary = new Map(VARIANTS.map((v) => [v, summarize(samples.get(v) ?? [])]))
  const throughput: Figure[] = []
  const p50: Figure[] = []
  const p99: Figure[] = []
  const trips: Figure[] = []
  const cpu: Figure[] = []
  for (const v of VARIANTS) {
    const s = summary.get(v) as ReturnType<typeof summarize>
    const base = summary.get(BASELINE_OF[v]) as ReturnType<typeof summarize>
    const metric = `${query}_${v}`
    throughput.push(figure({ metric, value: s.opsPerSecond, unit: 'ops/s', baseline: base.opsPerSecond, better: 'higher', goal: THROUGHPUT_GOALS[v], digits: 0 }))
    p50.push(figure({ metric: `${metric}_p50`, value: s.p50Us, unit: 'µs', baseline: base.p50Us, better: 'lower', digits: 1 }))
    p99.push(figure({ metric: `${metric}_p99`, value: s.p99Us, unit: 'µs', baseline: base.p99Us, better: 'lower', digits: 1 }))
    cpu.push(figure({ metric: `${metric}_node_cpu`, value: s.cpuUsPerOp, unit: 'µs CPU/query', baseline: base.cpuUsPerOp, better: 'lower', digits: 1 }))
    trips.push(figure({ metric: `${metric}_round_trips`, value: s.roundTripsPerOp, unit: 'round trips/query', baseline: base.roundTripsPerOp, better: 'lower', goal: ROUND_TRIP_GOALS[v], digits: 2 }))
  }
  // The ratio of the same round (paired): how much of a miss is noise shows in its spread.
  const paired = VARIANTS.filter((v) => BASELINE_OF[v] !== v).map((v) => {
    const baseRounds = samples.get(BASELINE_OF[v]) ?? []
    const ratios = (samples.get(v) ?? []).map((s, i) => s.opsPerSecond / (baseRounds[i]?.opsPerSecond ?? Number.NaN))
    const against = BASELINE_OF[v] === 'baseline' ? '' : ` (to ${BASELINE_OF[v]})`
    return `${v}${against} ${ratios.map((r) => r.toFixed(3)).join(' ')} (median ${median(ratios).toFixed(3)})`
  })
  const ops = (samples.get('baseline') ?? []).map((s) => s.ops)
  const note = `\`${query}\` ops/s ratio to the baseline, round by round: ${paired.join('; ')}. Baseline ops per round: ${ops.join(', ')}.`
  return { figures: [...throughput, ...p50, ...p99, ...cpu, ...trips], note }
}

export const benchmark: Benchmark = {
  name: 'isolation',
  summary: 'cost of the shared model\'s walls (Kysely plugin, RLS) per query, and of the scoped pg.Pool with plain pg and Drizzle, against unscoped baselines',
  defaults: (backend) => ({ rounds: 7, seconds: 1.5, warmupSeconds: 1, concurrency: backend === 'pglite' ? 1 : 8 }),
  async run(context): Promise<BenchOutcome> {
    const setup = await prepare(context)
    const w = setup.workload
    const inspection = await inspect(setup, context.log)
    const notes = [
      `Workload: ${w.tenants.length * w.rowsPerTenant} rows, ${w.tenants.length} tenants × ${w.rowsPerTenant}, loaded in ${w.seconds.toFixed(1)} s; \`scan_1pct\` matches ${w.rowsPerTenant / w.categoriesPerTenant} rows (1% of the tenant's rows). See "isolation" above for the variants.`,
      inspection.note,
    ]
    if (context.backend.name === 'pglite') {
      notes.push('PGlite: node-postgres reaches the engine through PGlite\'s shim, which hands each protocol message (Parse, Bind, Describe, Execute, Sync) to the engine as a separate call: 5 calls for a query, 9 for a query with its pipelined set_config. Pipelining saves no call there, so the RLS preamble costs about as much as a second query, and the scoped pool\'s pipeline (BEGIN, preamble, query, COMMIT and the session reset: 13 statements) several times the query alone: see "Where the scoped pool\'s time goes" above.')
    }
    const figures: Figure[] = []
    for (const query of queryShapes(w)) {
      const samples = await measureInRounds(variantsFor(query, setup), context.settings, context.log, query.name)
      const result = figuresFor(query.name, samples)
      figures.push(...result.figures)
      notes.push(result.note)
    }
    return { figures, notes, details: { summary: 'SQL, plans and statements per query of each variant', markdown: inspection.markdown } }
  },
}
