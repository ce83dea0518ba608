/**
 * Part (a) of `models`: the isolation benchmark's point select in each of the
 * three models, through one TenantData Kysely instance, against the unscoped
 * baseline, all in the same interleaved rounds.
 */
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { runWithTenant, type IsolationModelName, type Scope, type ScopedTenant } from '@tenantry/core'
import {
  DatabasePerTenantIsolation,
  PoolRouter,
  SchemaPerTenantIsolation,
  SharedSchemaIsolation,
  TenantData,
} from '@tenantry/postgres'
import { setConfigSql, type ScopeBinding } from '@tenantry/postgres/internal'
import { Kysely, PostgresDialect } from 'kysely'
import type { BenchContext } from '../harness/benchmark.ts'
import { figure, type Figure } from '../harness/figures.ts'
import { median, measureInRounds, summarize, type RoundSample, type Variant } from '../harness/rounds.ts'
import { countRoundTrips } from '../isolation/round-trips.ts'
import { createWorkload, type Workload } from '../isolation/workload.ts'
import type { TenantDatabaseHost } from './tenant-databases.ts'
import { ROWS_PER_TENANT, anyIdOf, checkPointRow, fillTenantItems, idRange, pointSelect, type ModelTenant, type ModelsDB } from './tenant-items.ts'

export type PointVariant = 'baseline' | IsolationModelName
export const POINT_VARIANTS: readonly PointVariant[] = ['baseline', 'shared', 'schema', 'database']

/** Tenantry promises one round trip per query in every model. */
const ROUND_TRIP_GOAL = 1

/** How many tenants each model gets in part (a), and the router for the database model. */
export interface PointSelectScale {
  readonly sharedTenants: number
  readonly schemaTenants: number
  readonly databaseTenants: number
  /** Connections per tenant database; the router's budget is databaseTenants × this, so every database stays warm. */
  readonly connectionsPerDatabase: number
  /** Why these numbers, for the notes. */
  readonly why: string
}

export function pointSelectScale(backend: BenchContext['backend']['name'], quick: boolean): PointSelectScale {
  if (backend === 'pglite') {
    // A PGlite instance is ~150 MB in memory and ~0.3 s to open: 4 warm ones, not 20.
    return {
      sharedTenants: 100,
      schemaTenants: quick ? 4 : 20,
      databaseTenants: quick ? 2 : 4,
      connectionsPerDatabase: 1,
      why: 'PGlite: 4 tenant databases, not 20, because each is a PGlite instance of ~150 MB that takes ~0.3 s to open; all 4 stay open, as 20 would need ~3 GB.',
    }
  }
  return {
    sharedTenants: 100,
    schemaTenants: quick ? 4 : 20,
    databaseTenants: quick ? 4 : 20,
    connectionsPerDatabase: 2,
    why: '100 tenants in the shared table (the isolation benchmark\'s workload), 20 schemas and 20 databases: fewer tenants, the same rows per tenant, enough to spread every variant\'s queries over many tenants.',
  }
}

interface Models {
  readonly workload: Workload
  readonly baseline: Kysely<ModelsDB>
  readonly data: TenantData
  readonly db: Kysely<ModelsDB>
  readonly tenants: Record<IsolationModelName, readonly ModelTenant[]>
  readonly bindings: Record<IsolationModelName, ScopeBinding>
  readonly router: PoolRouter
  readonly baselineRoundTrips: () => number
  readonly setupSeconds: Record<IsolationModelName, number>
}

function newTenant(slug: string, isolation: IsolationModelName): ScopedTenant {
  return { id: randomUUID(), slug, status: 'active', isolation }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now()
  const value = await fn()
  return [value, (performance.now() - started) / 1000]
}

async function prepare(context: BenchContext, host: TenantDatabaseHost, scale: PointSelectScale): Promise<Models> {
  const { backend, log } = context
  const { pool } = backend.target
  const baselineRoundTrips = countRoundTrips(pool)

  const [workload, sharedSeconds] = await timed(() =>
    createWorkload(pool, { tenantCount: scale.sharedTenants, rowsPerTenant: ROWS_PER_TENANT, categoriesPerTenant: 100 }))
  const runtimeRole = backend.uniqueName('tenantry_bench_app')
  backend.dropRoleAtClose(runtimeRole)
  const shared = new SharedSchemaIsolation(backend.target, { tables: ['items'], runtimeRole })
  await shared.install()
  await shared.assertSafe()
  const sharedTenants = workload.tenants.map((t): ModelTenant => ({ tenant: { ...t.tenant, isolation: 'shared' }, ids: t.ids }))
  log(`shared: ${sharedTenants.length} tenants × ${ROWS_PER_TENANT} rows in ${sharedSeconds.toFixed(1)} s`)

  // The same runtime role as the shared model: tenant queries never run as the owner.
  const schemas = new SchemaPerTenantIsolation(backend.target, { runtimeRole })
  const [schemaTenants, schemaSeconds] = await timed(async () => {
    const made: ModelTenant[] = []
    for (let i = 0; i < scale.schemaTenants; i++) {
      const firstId = 1_000_001 + i * ROWS_PER_TENANT
      const tenant = newTenant(`schema-${String(i + 1).padStart(3, '0')}`, 'schema')
      const placement = await schemas.provision(tenant, (client) => fillTenantItems(client, firstId))
      made.push({ tenant: { ...tenant, placement }, ids: idRange(firstId) })
    }
    return made
  })
  log(`schema: ${schemaTenants.length} schemas × ${ROWS_PER_TENANT} rows in ${schemaSeconds.toFixed(1)} s`)

  const router = new PoolRouter({
    databases: host.databases('point'),
    budget: scale.databaseTenants * scale.connectionsPerDatabase,
    maxPerDatabase: scale.connectionsPerDatabase,
    // Every database stays warm for the whole part: this is the steady state, not churn (part b).
    idleTimeoutMs: 3_600_000,
  })
  backend.atClose(() => router.close())
  const databases = new DatabasePerTenantIsolation({ router, provisioner: await host.provisioner('point', false) })
  const [databaseTenants, databaseSeconds] = await timed(async () => {
    const made: ModelTenant[] = []
    for (let i = 0; i < scale.databaseTenants; i++) {
      const firstId = 2_000_001 + i * ROWS_PER_TENANT
      const tenant: ScopedTenant = { ...newTenant(`database-${String(i + 1).padStart(3, '0')}`, 'database'), placement: { database: host.name('point', i + 1) } }
      const placement = await databases.provision(tenant, (client) => fillTenantItems(client, firstId))
      made.push({ tenant: { ...tenant, placement }, ids: idRange(firstId) })
    }
    return made
  })
  log(`database: ${databaseTenants.length} databases × ${ROWS_PER_TENANT} rows in ${databaseSeconds.toFixed(1)} s`)

  const data = new TenantData({ shared, schema: schemas, database: databases })
  return {
    workload,
    baseline: new Kysely<ModelsDB>({ dialect: new PostgresDialect({ pool }) }),
    data,
    db: data.kysely<ModelsDB>(),
    tenants: { shared: sharedTenants, schema: schemaTenants, database: databaseTenants },
    bindings: { shared: shared.binding(), schema: schemas.binding(), database: databases.binding() },
    router,
    baselineRoundTrips,
    setupSeconds: { shared: sharedSeconds, schema: schemaSeconds, database: databaseSeconds },
  }
}

/** Picks tenants round robin, so every query of a variant goes to the next tenant of its model. */
function roundRobin(tenants: readonly ModelTenant[]): () => ModelTenant {
  let next = 0
  return () => tenants[next++ % tenants.length] as ModelTenant
}

function variants(models: Models): Variant[] {
  const nextShared = roundRobin(models.tenants.shared)
  const model = (name: IsolationModelName): Variant => {
    const next = roundRobin(models.tenants[name])
    return {
      name,
      async op() {
        const t = next()
        const id = anyIdOf(t)
        const rows = await runWithTenant(t.tenant, () => pointSelect(models.db, id).execute())
        checkPointRow(rows, id, t.tenant, `point_select/${name}`)
      },
      roundTrips: () => models.data.stats.roundTrips,
    }
  }
  return [
    {
      name: 'baseline',
      async op() {
        const t = nextShared()
        const id = anyIdOf(t)
        const rows = await pointSelect(models.baseline, id).execute()
        checkPointRow(rows, id, t.tenant, 'point_select/baseline')
      },
      roundTrips: models.baselineRoundTrips,
    },
    model('shared'),
    model('schema'),
    model('database'),
  ]
}

const cellText = (text: string): string => text.replaceAll('|', '\\|')

/**
 * Before timing: in every model a tenant asking for another tenant's id gets no
 * row; and what each model sends per query (SQL, pipelined preamble, round trips,
 * statements, transactions), for the collapsed block under the run.
 */
async function inspect(models: Models, log: (message: string) => void): Promise<string> {
  const lines = [
    '| variant | tenants | SQL | pipelined before it | per query: round trips / statements / transactions |',
    '|---|---|---|---|---|',
  ]
  const [a] = models.tenants.shared
  const baseSql = pointSelect(models.baseline, a?.ids[0] ?? 1).compile().sql
  lines.push(`| baseline | ${models.workload.tenants.length} in one table, no scope | \`${cellText(baseSql)}\` | – | 1 / 1 / 0 |`)
  for (const name of ['shared', 'schema', 'database'] as const) {
    const tenants = models.tenants[name]
    const [first, second] = tenants as [ModelTenant, ModelTenant | undefined]
    if (second !== undefined) {
      const foreign = second.ids[0] as number
      const leaked = await runWithTenant(first.tenant, () => pointSelect(models.db, foreign).execute())
      if (leaked.length !== 0) throw new Error(`${name}: tenant ${first.tenant.slug} read row ${foreign} of tenant ${second.tenant.slug}`)
    }
    const compiled = runWithTenant(first.tenant, () => pointSelect(models.db, first.ids[0] as number).compile())
    const scope: Scope = { kind: 'tenant', tenant: first.tenant }
    const settings = models.bindings[name].settingsFor(scope)
    const preamble = settings.length === 0 ? '–' : `${setConfigSql(settings)} (${settings.map((s) => s.name).join(', ')})`
    const before = { ...models.data.stats }
    const n = 50
    for (let i = 0; i < n; i++) await runWithTenant(first.tenant, () => pointSelect(models.db, anyIdOf(first)).execute())
    const per = (k: 'roundTrips' | 'statements' | 'transactions'): number => (models.data.stats[k] - before[k]) / n
    const where = name === 'shared' ? 'in one table' : name === 'schema' ? 'schemas' : 'databases'
    const preambleCell = settings.length === 0 ? '–' : `\`${cellText(setConfigSql(settings))}\` (${settings.map((s) => s.name).join(', ')})`
    lines.push(`| ${name} | ${tenants.length} ${where} | \`${cellText(compiled.sql)}\` | ${preambleCell} | ${per('roundTrips')} / ${per('statements')} / ${per('transactions')} |`)
    log(`${name}: ${compiled.sql}; preamble ${preamble}; per query ${per('roundTrips')} round trips, ${per('statements')} statements, ${per('transactions')} transactions`)
  }
  return lines.join('\n')
}

function figuresFor(samples: Map<string, RoundSample[]>): { figures: Figure[]; note: string } {
  const summary = new Map(POINT_VARIANTS.map((v) => [v, summarize(samples.get(v) ?? [])]))
  const base = summary.get('baseline') as ReturnType<typeof summarize>
  const groups: Figure[][] = [[], [], [], [], []]
  for (const v of POINT_VARIANTS) {
    const s = summary.get(v) as ReturnType<typeof summarize>
    const metric = `point_select_${v}`
    const goal = v === 'baseline' ? null : ROUND_TRIP_GOAL
    groups[0]?.push(figure({ metric, value: s.opsPerSecond, unit: 'ops/s', baseline: base.opsPerSecond, better: 'higher', digits: 0 }))
    groups[1]?.push(figure({ metric: `${metric}_p50`, value: s.p50Us, unit: 'µs', baseline: base.p50Us, better: 'lower' }))
    groups[2]?.push(figure({ metric: `${metric}_p99`, value: s.p99Us, unit: 'µs', baseline: base.p99Us, better: 'lower' }))
    groups[3]?.push(figure({ metric: `${metric}_node_cpu`, value: s.cpuUsPerOp, unit: 'µs CPU/query', baseline: base.cpuUsPerOp, better: 'lower' }))
    groups[4]?.push(figure({ metric: `${metric}_round_trips`, value: s.roundTripsPerOp, unit: 'round trips/query', baseline: base.roundTripsPerOp, better: 'lower', goal, digits: 2 }))
  }
  const baseRounds = samples.get('baseline') ?? []
  const paired = POINT_VARIANTS.filter((v) => v !== 'baseline').map((v) => {
    const ratios = (samples.get(v) ?? []).map((s, i) => s.opsPerSecond / (baseRounds[i]?.opsPerSecond ?? Number.NaN))
    return `${v} ${ratios.map((r) => r.toFixed(3)).join(' ')} (median ${median(ratios).toFixed(3)})`
  })
  const note = `(a) ops/s ratio to the baseline, round by round: ${paired.join('; ')}. Baseline ops per round: ${baseRounds.map((s) => s.ops).join(', ')}.`
  return { figures: groups.flat(), note }
}

/** What part (a) hands back: figures, notes, and the per-model SQL block; `workload` is reused by part (b)'s baseline. */
export interface PointSelectOutcome {
  readonly figures: Figure[]
  readonly notes: string[]
  readonly details: string
  readonly workload: Workload
}

export async function runPointSelect(context: BenchContext, host: TenantDatabaseHost): Promise<PointSelectOutcome> {
  const loadAtStart = os.loadavg()[0] ?? 0
  const scale = pointSelectScale(context.backend.name, context.quick)
  const models = await prepare(context, host, scale)
  try {
    const details = await inspect(models, context.log)
    const samples = await measureInRounds(variants(models), context.settings, context.log, '(a) point_select')
    const result = figuresFor(samples)
    const t = models.tenants
    const s = models.setupSeconds
    const routerStats = models.router.stats()
    const notes = [
      `(a) Data: the same table of ${ROWS_PER_TENANT} rows per tenant in every model — shared: ${t.shared.length} tenants in one \`items\` table with \`tenant_id\` (${s.shared.toFixed(1)} s to load, the isolation benchmark's workload); ` +
        `schema: ${t.schema.length} schemas (${s.schema.toFixed(1)} s); database: ${t.database.length} databases (${s.database.toFixed(1)} s, pool router budget ${scale.databaseTenants * scale.connectionsPerDatabase}, ${scale.connectionsPerDatabase} per database, so every database stays warm: ${routerStats.poolOpens} pool opens, ${routerStats.evictions.budget + routerStats.evictions.lru + routerStats.evictions.idle} evictions over the whole part). ` +
        `Each variant picks the next tenant of its model round robin and a random id of it; every query checks it got exactly that row.`,
      `(a) Scale: ${scale.why}`,
      '(a) Checked before timing: in each model a tenant asking for another tenant\'s id gets no row.',
      result.note,
      `(a) Load average (1 min, ${os.cpus().length} cores): ${loadAtStart.toFixed(1)} at the start of (a), ${(os.loadavg()[0] ?? 0).toFixed(1)} at its end.`,
    ]
    return { figures: result.figures, notes, details, workload: models.workload }
  } finally {
    await models.router.close()
  }
}
