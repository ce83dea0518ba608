/**
 * `isolation` (issue #2, item 8): what the shared model's two walls cost per query.
 *
 * 100 tenants × 1,000 rows in one `items` table. Two queries, each timed in five
 * variants interleaved in the same rounds, against an unscoped baseline:
 *
 * - baseline: kysely's own PostgresDialect over the same pool, as the table owner,
 *   the query text with no tenant predicate at all (what an app without
 *   multi-tenancy would send);
 * - plugin: SharedSchemaIsolation with only the Kysely plugin wall;
 * - rls: only the RLS wall (role + tenant setting pipelined with the query);
 * - plugin_rls: both walls, the default;
 * - naive_rls (reference): BEGIN / set_config / query / COMMIT as four round trips
 *   on a raw pg client, to show what pipelining saves.
 */
import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import { SharedSchemaIsolation, type SharedWalls } from '@tenantry/postgres'
import { Kysely, PostgresDialect, type ColumnType, type CompiledQuery } from 'kysely'
import type pg from 'pg'
import type { BenchContext, BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { median, measureInRounds, summarize, type RoundSample, type Variant } from './harness/rounds.ts'
import { countRoundTrips } from './isolation/round-trips.ts'
import { createWorkload, type Workload, type WorkloadTenant } from './isolation/workload.ts'

interface ItemsTable {
  id: ColumnType<string, never, never>
  tenant_id: string
  category: number
  name: string
  amount: number
}
interface BenchDB {
  items: ItemsTable
}

type VariantName = 'baseline' | 'plugin' | 'rls' | 'plugin_rls' | 'naive_rls'
const VARIANTS: readonly VariantName[] = ['baseline', 'plugin', 'rls', 'plugin_rls', 'naive_rls']

/** Floors on ops/s relative to the baseline (issue #2, item 8). */
const THROUGHPUT_GOALS: Partial<Record<VariantName, number>> = { plugin: 0.97, plugin_rls: 0.9 }
/** Tenantry promises one round trip per query, walls or not: a floor of 1 on baseline/value. */
const ROUND_TRIP_GOALS: Partial<Record<VariantName, number>> = { plugin: 1, rls: 1, plugin_rls: 1 }

const WALLS: Record<'plugin' | 'rls' | 'plugin_rls', SharedWalls> = {
  plugin: { plugin: true, rls: false },
  rls: { plugin: false, rls: true },
  plugin_rls: { plugin: true, rls: true },
}

/** A query ready to run or compile (a SelectQueryBuilder). */
interface BuiltQuery {
  execute(): Promise<{ tenant_id: string }[]>
  compile(): CompiledQuery
}

/** One query of the benchmark: how to pick its argument and how to build it. */
interface QueryShape {
  readonly name: 'point_select' | 'scan_1pct'
  /** The argument for the tenant in scope: one of its ids, or one of its categories. */
  pick(tenant: WorkloadTenant): number
  build(db: Kysely<BenchDB>, argument: number): BuiltQuery
  readonly expectedRows: number
}

function checkRows(rows: readonly { tenant_id: string }[], expected: number, tenant: ScopedTenant, what: string): void {
  if (rows.length !== expected || rows[0]?.tenant_id !== tenant.id) {
    throw new Error(`${what}: expected ${expected} row(s) of tenant ${tenant.slug}, got ${rows.length}${rows[0] ? ` (first of tenant ${rows[0].tenant_id})` : ''}`)
  }
}

function queryShapes(workload: Workload): QueryShape[] {
  return [
    {
      name: 'point_select',
      pick: (t) => t.ids[Math.floor(Math.random() * t.ids.length)] as number,
      build: (db, id) => db.selectFrom('items').selectAll().where('id', '=', String(id)),
      expectedRows: 1,
    },
    {
      name: 'scan_1pct',
      pick: (t) => t.firstCategory + Math.floor(Math.random() * workload.categoriesPerTenant),
      build: (db, category) => db.selectFrom('items').selectAll().where('category', '=', category),
      expectedRows: workload.rowsPerTenant / workload.categoriesPerTenant,
    },
  ]
}

interface Setup {
  readonly workload: Workload
  readonly pool: pg.Pool
  readonly baseline: Kysely<BenchDB>
  readonly scoped: Record<'plugin' | 'rls' | 'plugin_rls', { isolation: SharedSchemaIsolation; db: Kysely<BenchDB> }>
  readonly runtimeRole: string
  /** The signed scope token of a tenant (what the policies verify). */
  readonly scopeToken: (tenantId: string) => string
  readonly clientQueries: () => number
}

/** Picks tenants round robin, so every variant spreads its queries over all 100 tenants alike. */
function tenantPicker(workload: Workload): () => WorkloadTenant {
  let next = 0
  return () => workload.tenants[next++ % workload.tenants.length] as WorkloadTenant
}

function variantsFor(query: QueryShape, setup: Setup): Variant[] {
  const { baseline, scoped, pool } = setup
  const nextTenant = tenantPicker(setup.workload)
  const scopedVariant = (name: 'plugin' | 'rls' | 'plugin_rls'): Variant => {
    const { isolation, db } = scoped[name]
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
    scopedVariant('plugin'),
    scopedVariant('rls'),
    scopedVariant('plugin_rls'),
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
  ]
}

async function prepare(context: BenchContext): Promise<Setup> {
  const { backend, log } = context
  const { pool } = backend.target
  const clientQueries = countRoundTrips(pool)
  const workload = await createWorkload(pool, { tenantCount: 100, rowsPerTenant: 1000, categoriesPerTenant: 100 })
  log(`workload: ${workload.tenants.length} tenants × ${workload.rowsPerTenant} rows in ${workload.seconds.toFixed(1)} s`)

  const runtimeRole = backend.uniqueName('tenantry_bench_app')
  backend.dropRoleAtClose(runtimeRole)
  // RLS is a property of the table, so the plugin-only variant runs as a role that
  // bypasses it (set after its install, which would take BYPASSRLS away): only the
  // plugin stands between tenants there. The baseline runs as the owner (superuser).
  const pluginRole = backend.uniqueName('tenantry_bench_plugin')
  backend.dropRoleAtClose(pluginRole)
  const walled = (walls: SharedWalls): Setup['scoped']['plugin'] => {
    const isolation = new SharedSchemaIsolation(backend.target, { tables: ['items'], runtimeRole: walls.rls ? runtimeRole : pluginRole, walls })
    backend.atClose(() => isolation.close())
    return { isolation, db: isolation.kysely<BenchDB>() }
  }
  const scoped: Setup['scoped'] = { plugin: walled(WALLS.plugin), rls: walled(WALLS.rls), plugin_rls: walled(WALLS.plugin_rls) }
  await scoped.plugin_rls.isolation.install()
  await scoped.plugin.isolation.install()
  await pool.query(`alter role ${pluginRole} bypassrls`)
  // Tenant queries run on the runtime login's pool (PostgreSQL) or the one connection (PGlite): count there too.
  const counters = [clientQueries]
  for (const runtimePool of new Set(await Promise.all(Object.values(scoped).map(({ isolation }) => isolation.ready())))) {
    if (runtimePool !== pool) counters.push(countRoundTrips(runtimePool))
  }
  for (const [name, { isolation }] of Object.entries(scoped)) {
    const report = await isolation.doctor()
    const errors = report.findings.filter((f) => f.severity === 'error')
    if (errors.length) throw new Error(`doctor refused the ${name} configuration: ${errors.map((f) => f.message).join(' ')}`)
  }
  return {
    workload,
    pool,
    baseline: new Kysely<BenchDB>({ dialect: new PostgresDialect({ pool }) }),
    scoped,
    runtimeRole,
    scopeToken: await (async () => {
      const signer = await scoped.plugin_rls.isolation.guard.signer()
      return (tenantId: string) => signer.tokenFor(tenantId)
    })(),
    clientQueries: () => counters.reduce((sum, count) => sum + count(), 0),
  }
}

/** What `inspect` found: a note for the run, and SQL and plans as markdown. */
interface Inspection {
  readonly note: string
  readonly markdown: string
}

const cellText = (text: string): string => text.replaceAll('|', '\\|')

/**
 * Before timing anything: every wall really isolates (another tenant's id finds
 * nothing), the SQL each variant sends, its plan, and what the driver counts per query.
 */
async function inspect(setup: Setup, log: (message: string) => void): Promise<Inspection> {
  const [a, b] = setup.workload.tenants as [WorkloadTenant, WorkloadTenant]
  const foreignId = String(b.ids[0])
  for (const [name, { db }] of Object.entries(setup.scoped)) {
    const leaked = await runWithTenant(a.tenant, () => db.selectFrom('items').selectAll().where('id', '=', foreignId).execute())
    if (leaked.length !== 0) throw new Error(`${name}: tenant ${a.tenant.slug} read a row of tenant ${b.tenant.slug}`)
  }
  const markdown: string[] = []
  for (const query of queryShapes(setup.workload)) {
    const argument = query.pick(a)
    markdown.push(`\`${query.name}\``, '', '| variant | SQL | plan | per query: round trips / statements / transactions |', '|---|---|---|---|')
    const base = query.build(setup.baseline, argument).compile()
    const basePlan = await planOf(setup, base.sql, base.parameters, undefined)
    markdown.push(`| baseline | \`${cellText(base.sql)}\` | ${cellText(basePlan)} | 1 / 1 / 0 (autocommit) |`)
    log(`${query.name} baseline: ${base.sql} -> ${basePlan}`)
    for (const [name, { db, isolation }] of Object.entries(setup.scoped)) {
      const compiled = runWithTenant(a.tenant, () => query.build(db, argument).compile())
      const rls = isolation.options.walls.rls ? a.tenant.id : undefined
      const plan = await planOf(setup, compiled.sql, compiled.parameters, rls)
      const before = { ...isolation.stats }
      const clientBefore = setup.clientQueries()
      const n = 50
      for (let i = 0; i < n; i++) await runWithTenant(a.tenant, () => query.build(db, query.pick(a)).execute())
      const per = (k: 'roundTrips' | 'statements' | 'transactions'): number => (isolation.stats[k] - before[k]) / n
      const client = (setup.clientQueries() - clientBefore) / n
      if (client !== per('roundTrips')) log(`warning: ${name}: ${client} pg client.query calls per query but isolation.stats counts ${per('roundTrips')} round trips`)
      markdown.push(`| ${name} | \`${cellText(compiled.sql)}\` | ${cellText(plan)} | ${per('roundTrips')} / ${per('statements')} / ${per('transactions')} |`)
      log(`${query.name} ${name}: ${compiled.sql} -> ${plan}; per query ${per('roundTrips')} round trips, ${per('statements')} statements, ${per('transactions')} transactions`)
    }
    markdown.push(`| naive_rls | baseline's, after \`begin\` and \`set_config\` | as rls | 4 / 4 / 1 |`, '')
  }
  return {
    note: 'Checked before timing: in each walled variant a point select of another tenant\'s id returns no row; every timed query checks its row count and tenant.',
    markdown: markdown.join('\n').trimEnd(),
  }
}

/** A one-line EXPLAIN of `sql`, as the runtime role with the tenant set when `tenantId` is given. */
async function planOf(setup: Setup, sql: string, parameters: readonly unknown[], tenantId: string | undefined): Promise<string> {
  const client = await setup.pool.connect()
  try {
    await client.query('begin')
    if (tenantId !== undefined) {
      await client.query(`select set_config('role', $1, true), set_config('tenantry.scope', $2, true)`, [setup.runtimeRole, setup.scopeToken(tenantId)])
    }
    const plan = await client.query<{ 'QUERY PLAN': string }>(`explain (costs off) ${sql}`, [...parameters])
    return plan.rows.map((r) => r['QUERY PLAN'].trim()).join('; ')
  } finally {
    await client.query('rollback').catch(() => undefined)
    client.release()
  }
}

function figuresFor(query: QueryShape['name'], samples: Map<string, RoundSample[]>): { figures: Figure[]; note: string } {
  const summary = new Map(VARIANTS.map((v) => [v, summarize(samples.get(v) ?? [])]))
  const base = summary.get('baseline') as ReturnType<typeof summarize>
  const throughput: Figure[] = []
  const p50: Figure[] = []
  const p99: Figure[] = []
  const trips: Figure[] = []
  const cpu: Figure[] = []
  for (const v of VARIANTS) {
    const s = summary.get(v) as ReturnType<typeof summarize>
    const metric = `${query}_${v}`
    throughput.push(figure({ metric, value: s.opsPerSecond, unit: 'ops/s', baseline: base.opsPerSecond, better: 'higher', goal: THROUGHPUT_GOALS[v], digits: 0 }))
    p50.push(figure({ metric: `${metric}_p50`, value: s.p50Us, unit: 'µs', baseline: base.p50Us, better: 'lower', digits: 1 }))
    p99.push(figure({ metric: `${metric}_p99`, value: s.p99Us, unit: 'µs', baseline: base.p99Us, better: 'lower', digits: 1 }))
    cpu.push(figure({ metric: `${metric}_node_cpu`, value: s.cpuUsPerOp, unit: 'µs CPU/query', baseline: base.cpuUsPerOp, better: 'lower', digits: 1 }))
    trips.push(figure({ metric: `${metric}_round_trips`, value: s.roundTripsPerOp, unit: 'round trips/query', baseline: base.roundTripsPerOp, better: 'lower', goal: ROUND_TRIP_GOALS[v], digits: 2 }))
  }
  // The ratio of the same round (paired): how much of a miss is noise shows in its spread.
  const baseRounds = samples.get('baseline') ?? []
  const paired = VARIANTS.filter((v) => v !== 'baseline').map((v) => {
    const ratios = (samples.get(v) ?? []).map((s, i) => s.opsPerSecond / (baseRounds[i]?.opsPerSecond ?? Number.NaN))
    return `${v} ${ratios.map((r) => r.toFixed(3)).join(' ')} (median ${median(ratios).toFixed(3)})`
  })
  const ops = (samples.get('baseline') ?? []).map((s) => s.ops)
  const note = `\`${query}\` ops/s ratio to the baseline, round by round: ${paired.join('; ')}. Baseline ops per round: ${ops.join(', ')}.`
  return { figures: [...throughput, ...p50, ...p99, ...cpu, ...trips], note }
}

export const benchmark: Benchmark = {
  name: 'isolation',
  summary: 'cost of the shared model\'s walls (Kysely plugin, RLS) per query, against an unscoped baseline',
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
      notes.push('PGlite: node-postgres reaches the engine through PGlite\'s shim, which hands each protocol message (Parse, Bind, Describe, Execute, Sync) to the engine as a separate call: 5 calls for a query, 9 for a query with its pipelined set_config. Pipelining saves no call there, so the RLS preamble costs about as much as a second query.')
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
