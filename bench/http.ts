/**
 * `http` (issue #5, item 6): what tenancy costs a real request.
 *
 * `GET /api/projects/:id` of the reference SaaS (apps/saas) under load on
 * loopback with autocannon, for a tenant in each isolation model (acme shared,
 * globex schema, initech database), against the same Fastify route with no
 * tenancy on the same database (a plain Kysely query of acme's rows in the same
 * table, same validation, response shape, request ids and logging hooks), in
 * the same interleaved rounds: req/s and p99 ratios, goal >= 0.9. Plus the cost of
 * a cached tenant resolve (and API-key check) in microseconds. And (#14) the
 * same shared request with metrics, tracing and the live view on, against it
 * with them off, in process and over HTTP in paired blocks: goal >= 0.97.
 *
 * The load generator runs in a worker thread, so it does not share the
 * server's event loop (it does share the machine's two cores).
 */
import os from 'node:os'
import { context as otelContext, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { BenchContext, BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { median } from './harness/rounds.ts'
import { driveHttp, type LoadResult } from './http/load.ts'
import { measureObserverCost, measureObserverCostOverHttp } from './http/observer-cost.ts'
import { measureResolveCost } from './http/resolve-cost.ts'
import { cpuMeter } from './http/server-cpu.ts'
import { prepareHttpBench, type HttpTarget } from './http/setup.ts'

const GOAL = 0.9
/** Metrics + tracing + the live view against the same requests without them (#14). */
const OBSERVED_GOAL = 0.97

/** The share of requests the traced variant's SDK records (a production-like head sampler). */
const TRACE_SAMPLE_RATIO = Number(process.env.BENCH_TRACE_RATIO ?? 0.1)

/**
 * An OpenTelemetry SDK as an app would run it (async context, parent-based
 * head sampling of 10 %, batched export), exporting to nowhere: what
 * recording spans costs, without a collector. Registered for the traced
 * variant only (`use(true)`).
 */
function tracingSdk(): { use(on: boolean): void } {
  const discard: SpanExporter = {
    export: (_spans: ReadableSpan[], done) => done({ code: 0 }),
    shutdown: async () => undefined,
  }
  otelContext.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  const provider = new BasicTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(TRACE_SAMPLE_RATIO) }),
    spanProcessors: [new BatchSpanProcessor(discard)],
  })
  let registered = false
  return {
    use(on) {
      if (on === registered) return
      if (on) trace.setGlobalTracerProvider(provider)
      else trace.disable()
      registered = on
    },
  }
}

/** HTTP connections kept open by the load generator (PGlite serializes queries behind them). */
function connectionsFor(context: BenchContext): number {
  return context.backend.name === 'pglite' ? 8 : Math.max(8, context.settings.concurrency)
}

/** Checks each target answers its first path with that project before anything is timed. */
async function checkTargets(targets: readonly HttpTarget[]): Promise<void> {
  for (const t of targets) {
    const path = t.paths[0] as string
    const headers: Record<string, string> = { host: t.host }
    if (t.authorization) headers.authorization = t.authorization
    const response = await fetchVia(t.port, path, headers)
    const id = path.split('/').pop()
    if (response.status !== 200 || response.body?.id !== id) throw new Error(`${t.name}: GET ${path} answered ${response.status} ${JSON.stringify(response.body)}`)
  }
  // And a foreign id is not found through a tenant of another model.
  const [, shared, , database] = targets as [HttpTarget, HttpTarget, HttpTarget, HttpTarget]
  const foreign = await fetchVia(database.port, shared.paths[0] as string, { host: database.host, authorization: database.authorization as string })
  if (foreign.status !== 404) throw new Error(`initech read acme's project: ${foreign.status}`)
}

/** The benchmark database and the tenant databases the SaaS made beside it. */
async function benchDatabases(context: BenchContext, saas: { tenantry: { catalog: { list(q: { limit: number }): Promise<{ items: readonly { placement: { database?: string } }[] }> } } }): Promise<string[]> {
  const { rows } = await context.backend.target.pool.query<{ db: string }>('select current_database() as db')
  const { items } = await saas.tenantry.catalog.list({ limit: 500 })
  return [rows[0]?.db as string, ...items.flatMap((t) => (t.placement.database === undefined ? [] : [t.placement.database]))]
}

async function fetchVia(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const { request } = await import('node:http')
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString('utf8')))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

interface Sample {
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Server main-thread busy µs per request. */
  readonly nodeUs: number
  /** PostgreSQL backend CPU µs per request (NaN when not measurable). */
  readonly postgresUs: number
}

function sampleOf(r: LoadResult, cpu: { nodeMs: number; postgresMs: number | undefined }): Sample {
  return {
    rps: r.requests / r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    nodeUs: (cpu.nodeMs * 1000) / r.requests,
    postgresUs: cpu.postgresMs === undefined ? Number.NaN : (cpu.postgresMs * 1000) / r.requests,
  }
}

export const benchmark: Benchmark = {
  name: 'http',
  summary: 'GET /api/projects/:id of the reference SaaS per isolation model against the same route with no tenancy; cached resolve cost',
  defaults: (backend) => ({ rounds: 5, seconds: 3, warmupSeconds: 2, concurrency: backend === 'pglite' ? 1 : 16 }),
  async run(context): Promise<BenchOutcome> {
    const { settings, log, quick } = context
    const loadAtStart = os.loadavg()[0] ?? 0
    const sdk = tracingSdk()
    const bench = await prepareHttpBench(context, quick ? 200 : 1000, quick ? 50 : 200)
    const observability = bench.saas.observability
    if (observability === undefined) throw new Error('the SaaS runs without observability')
    // Each variant runs with the watchers as its name says: only shared_observed has them on.
    const drive = (t: HttpTarget, seconds: number) => {
      observability.setEnabled(t.name === 'shared_observed' || t.name === 'shared_traced')
      sdk.use(t.name === 'shared_traced')
      return driveHttp(job(t, seconds), t.name)
    }
    const { targets } = bench
    await checkTargets(targets)
    const connections = connectionsFor(context)
    const databases = context.backend.name === 'postgres' ? await benchDatabases(context, bench.saas) : []
    const meter = cpuMeter(context.backend.name === 'postgres' ? context.backend.target.pool : undefined, databases)
    const job = (t: HttpTarget, seconds: number) => ({ port: t.port, host: t.host, authorization: t.authorization, paths: t.paths, connections, seconds })

    log(`warm-up: ${settings.warmupSeconds} s per variant, ${connections} connections`)
    for (const t of targets) await drive(t, Math.max(1, Math.round(settings.warmupSeconds)))
    const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]))
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the order so drift spreads over every variant.
      const order = targets.map((_, i) => targets[(i + round) % targets.length] as HttpTarget)
      for (const t of order) {
        await meter.start()
        const result = await drive(t, Math.max(1, Math.round(settings.seconds)))
        const s = sampleOf(result, await meter.stop())
        samples.get(t.name)?.push(s)
        log(`round ${round + 1}/${settings.rounds} ${t.name}: ${s.rps.toFixed(0)} req/s, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, server ${s.nodeUs.toFixed(0)} µs${Number.isFinite(s.postgresUs) ? ` + PostgreSQL ${s.postgresUs.toFixed(0)} µs` : ''} CPU/request`)
      }
    }
    const cost = await measureResolveCost(bench.saas, targets, quick ? 5_000 : 50_000)
    sdk.use(false)
    // PostgreSQL's rounds are noisier in process (the client's socket work): more pairs there. The effect is
    // ~2 % and one pair's ratio spreads ±9 % (IQR): 1,000 pairs put the median's standard error near 0.5 %.
    const pairs = quick ? 4 : context.backend.name === 'postgres' ? 1000 : 80
    const observerCost = await measureObserverCost(bench.saas, targets.find((t) => t.name === 'shared') as HttpTarget, pairs, quick ? 50 : 100)
    log(`watchers in process: ${observerCost.offUs.toFixed(0)} µs CPU/request off, ${observerCost.onUs.toFixed(0)} on (+${observerCost.addedUs.toFixed(1)}), ratio ${observerCost.ratio.toFixed(3)} [${observerCost.q1.toFixed(3)}-${observerCost.q3.toFixed(3)}] (totals ${observerCost.totalRatio.toFixed(3)}); control ${observerCost.control.ratio.toFixed(3)} (totals ${observerCost.control.totalRatio.toFixed(3)})`)
    const sharedTarget = targets.find((t) => t.name === 'shared') as HttpTarget
    const httpSeconds = quick ? 8 : context.backend.name === 'postgres' ? 240 : 60
    const httpObserverCost = await measureObserverCostOverHttp(bench.saas, sharedTarget, (seconds) => driveHttp(job(sharedTarget, seconds), 'watchers over HTTP'), httpSeconds, connections)
    log(`watchers over HTTP: ${httpObserverCost.offUs.toFixed(0)} µs main-thread busy/request off, ${httpObserverCost.onUs.toFixed(0)} on, ratio ${httpObserverCost.ratio.toFixed(3)} [${httpObserverCost.q1.toFixed(3)}-${httpObserverCost.q3.toFixed(3)}] over ${httpObserverCost.pairs} pairs at ${httpObserverCost.rps.toFixed(0)} req/s`)
    log(`cached resolve ${cost.resolveUs.toFixed(2)} µs; with the API-key check ${cost.resolveAndKeyUs.toFixed(2)} µs`)

    const med = (name: string, k: keyof Sample): number => median((samples.get(name) ?? []).map((s) => s[k]))
    const base = { rps: med('baseline', 'rps'), p50: med('baseline', 'p50Ms'), p99: med('baseline', 'p99Ms'), nodeUs: med('baseline', 'nodeUs'), postgresUs: med('baseline', 'postgresUs') }
    const figures: Figure[] = [figure({ metric: 'get_project_baseline', value: base.rps, unit: 'req/s', better: 'higher', digits: 0 })]
    for (const model of ['shared', 'schema', 'database'] as const) {
      figures.push(figure({ metric: `get_project_${model}`, value: med(model, 'rps'), unit: 'req/s', baseline: base.rps, better: 'higher', goal: GOAL, digits: 0 }))
    }
    for (const model of ['shared', 'schema', 'database'] as const) {
      figures.push(figure({ metric: `get_project_${model}_p99`, value: med(model, 'p99Ms'), unit: 'ms', baseline: base.p99, better: 'lower', goal: GOAL, digits: 2 }))
    }
    for (const model of ['shared', 'schema', 'database'] as const) {
      figures.push(figure({ metric: `get_project_${model}_p50`, value: med(model, 'p50Ms'), unit: 'ms', baseline: base.p50, better: 'lower', digits: 2 }))
    }
    for (const model of ['shared', 'schema', 'database'] as const) {
      figures.push(figure({ metric: `get_project_${model}_server_cpu`, value: med(model, 'nodeUs'), unit: 'µs/request', baseline: base.nodeUs, better: 'lower', digits: 0 }))
    }
    if (Number.isFinite(base.postgresUs)) {
      for (const model of ['shared', 'schema', 'database'] as const) {
        figures.push(figure({ metric: `get_project_${model}_postgres_cpu`, value: med(model, 'postgresUs'), unit: 'µs/request', baseline: base.postgresUs, better: 'lower', digits: 0 }))
      }
    }
    const plain = { rps: med('shared', 'rps'), p99: med('shared', 'p99Ms'), nodeUs: med('shared', 'nodeUs') }
    figures.push(
      figure({ metric: 'observed_shared_inprocess_cpu', value: observerCost.onUs, unit: 'µs/request', baseline: observerCost.offUs, better: 'lower', goal: OBSERVED_GOAL, digits: 1, ratio: observerCost.ratio }),
      figure({ metric: 'observed_shared_http_server_cpu', value: httpObserverCost.onUs, unit: 'µs/request', baseline: httpObserverCost.offUs, better: 'lower', goal: OBSERVED_GOAL, digits: 1, ratio: httpObserverCost.ratio }),
      figure({ metric: 'observed_control_inprocess_cpu', value: observerCost.control.onUs, unit: 'µs/request', baseline: observerCost.control.offUs, better: 'lower', digits: 1, ratio: observerCost.control.ratio }),
      figure({ metric: 'observed_shared_inprocess_total_cpu', value: observerCost.onMeanUs, unit: 'µs/request', baseline: observerCost.offMeanUs, better: 'lower', digits: 1, ratio: observerCost.totalRatio }),
      figure({ metric: 'observed_control_inprocess_total_cpu', value: observerCost.control.onMeanUs, unit: 'µs/request', baseline: observerCost.control.offMeanUs, better: 'lower', digits: 1, ratio: observerCost.control.totalRatio }),
      figure({ metric: 'observed_shared_http_total_server_cpu', value: httpObserverCost.onMeanUs, unit: 'µs/request', baseline: httpObserverCost.offMeanUs, better: 'lower', digits: 1, ratio: httpObserverCost.totalRatio }),
      figure({ metric: 'observed_shared', value: med('shared_observed', 'rps'), unit: 'req/s', baseline: plain.rps, better: 'higher', digits: 0 }),
      figure({ metric: 'observed_shared_p99', value: med('shared_observed', 'p99Ms'), unit: 'ms', baseline: plain.p99, better: 'lower', digits: 2 }),
      figure({ metric: 'observed_shared_server_cpu', value: med('shared_observed', 'nodeUs'), unit: 'µs/request', baseline: plain.nodeUs, better: 'lower', digits: 0 }),
      figure({ metric: 'traced_shared', value: med('shared_traced', 'rps'), unit: 'req/s', baseline: plain.rps, better: 'higher', digits: 0 }),
      figure({ metric: 'traced_shared_server_cpu', value: med('shared_traced', 'nodeUs'), unit: 'µs/request', baseline: plain.nodeUs, better: 'lower', digits: 0 }),
    )
    figures.push(
      figure({ metric: 'cached_resolve', value: cost.resolveUs, unit: 'µs', better: 'lower', digits: 2 }),
      figure({ metric: 'cached_resolve_and_api_key', value: cost.resolveAndKeyUs, unit: 'µs', better: 'lower', digits: 2 }),
    )

    const perRound = (['shared', 'schema', 'database'] as const).map((model) => {
      const ratios = (samples.get(model) ?? []).map((s, i) => s.rps / (samples.get('baseline')?.[i]?.rps ?? Number.NaN))
      return `${model} ${ratios.map((r) => r.toFixed(3)).join(' ')}`
    })
    const notes = [
      `Workload: ${bench.projectsPerTenant} projects per tenant; each variant cycles through ${targets[0]?.paths.length} of its project ids; ${connections} keep-alive connections from autocannon in a worker thread; ${settings.rounds} rounds of ${settings.seconds} s per variant after ${settings.warmupSeconds} s of warm-up, order rotating; medians. Every response of a timed run was a 2xx (a run with any other answer fails the benchmark).`,
      'Tenant variants: the full reference SaaS request — Host subdomain resolved through the cached catalog, API key checked (cached), admission none, handler in the tenant scope, zod validation, the scoped Kysely query (shared: plugin predicate + RLS settings; schema: search_path; database: its own database through the pool router), request-id and logging hooks.',
      'Baseline: a Fastify app built the same way (createFastify + the same logging hooks, same zod validation and response shape) whose route runs a plain Kysely query (PostgresDialect on the same pool) on the same `projects` table, reading acme\'s rows; no resolution, no key, no scope. Both apps log at warn, so the per-response log line is a level check in both.',
      `req/s ratio to the baseline, round by round: ${perRound.join('; ')}.`,
      `Observability (#14), the goal: \`observed_shared_inprocess_cpu\` is acme's request run in process by \`app.inject()\` (the whole Fastify request with resolution, key check, admission, handler and the scoped query on the real database; no sockets) with the reference SaaS's watchers on (TenantMetrics for requests and queries with the top-50 tenant label, the LiveView, TenantTracing's hooks with no OpenTelemetry SDK: the library's own cost) against off: ${observerCost.pairs} pairs of adjacent blocks of ${observerCost.minBlock} to ${2 * observerCost.minBlock} requests (random), one block on and one off in random order, the event loop turned after each request; the process's CPU per request; the ratio is the median over pairs of off/on (interquartile range ${observerCost.q1.toFixed(3)} to ${observerCost.q3.toFixed(3)}; goal >= ${OBSERVED_GOAL}); value and baseline are the medians of the on and off blocks (${observerCost.onUs.toFixed(1)} and ${observerCost.offUs.toFixed(1)} µs; median added ${observerCost.addedUs.toFixed(1)} µs). \`observed_control_inprocess_cpu\`: the same pairs with the watchers off in both blocks, the measurement's own noise (ratio ${observerCost.control.ratio.toFixed(3)}, interquartile range ${observerCost.control.q1.toFixed(3)} to ${observerCost.control.q3.toFixed(3)}). \`*_total_cpu\`: the same pairs, the off blocks' mean CPU per request (total CPU / total requests) against the on blocks' (${observerCost.offMeanUs.toFixed(1)} and ${observerCost.onMeanUs.toFixed(1)} µs, ratio ${observerCost.totalRatio.toFixed(3)}; control ${observerCost.control.totalRatio.toFixed(3)}; over HTTP, busy time the same way, \`observed_shared_http_total_server_cpu\`, ${httpObserverCost.totalRatio.toFixed(3)}): it counts every block in full, so work that comes in bursts (a batch counted every 256 requests, a scavenge, a neighbour's burst on the other core) weighs in as it falls, where the median sets the outlying blocks aside; it is the unbiased figure and the noisier one, no goal. Why the loop turns: \`inject()\` resolves through promises alone while each request schedules \`setImmediate\` work; a loop that never yields piles it up (about 9.5 KB a request), and CPU per request drifts up by about 15 % over a run. \`observed_shared_http_server_cpu\`, the same goal over HTTP: one steady autocannon load on acme (${httpObserverCost.connections} connections, ${httpObserverCost.seconds} s, ${httpObserverCost.rps.toFixed(0)} req/s) with the watchers switched on and off in ${httpObserverCost.pairs} pairs of adjacent blocks of 250 to 500 ms (random length and order, each starting 20 ms after the switch); the server's main-thread busy time (event-loop utilization) per request received; median over pairs of off/on (interquartile range ${httpObserverCost.q1.toFixed(3)} to ${httpObserverCost.q3.toFixed(3)}; medians ${httpObserverCost.onUs.toFixed(1)} µs on, ${httpObserverCost.offUs.toFixed(1)} µs off). The load never stops, so both halves of a pair share connections, backends and neighbours. \`observed_shared\` against \`shared\` (in the separate rounds above) is kept for reference: its rounds differ by more than the effect on this shared machine (round by round: ${(samples.get('shared_observed') ?? []).map((s, i) => (s.rps / (samples.get('shared')?.[i]?.rps ?? Number.NaN)).toFixed(3)).join(' ')}). \`traced_shared\`: the same with an OpenTelemetry SDK registered (AsyncLocalStorage context manager, parent-based sampling of ${TRACE_SAMPLE_RATIO * 100} % of requests, batched export to nowhere): a sampled request records a SERVER span and a CLIENT span per query and runs in their context; the SDK's cost, no goal. Round by round: ${(samples.get('shared_traced') ?? []).map((s, i) => (s.rps / (samples.get('shared')?.[i]?.rps ?? Number.NaN)).toFixed(3)).join(' ')}.`,
      `Where the time goes: \`*_server_cpu\` is the server's main-thread busy time per request (event-loop utilization; with PGlite it includes the database engine), baseline ${base.nodeUs.toFixed(0)} µs; ${Number.isFinite(base.postgresUs) ? `\`*_postgres_cpu\` the CPU of the PostgreSQL backends serving the benchmark's databases per request (pg_stat_activity + /proc, 10 ms ticks summed over a run), baseline ${base.postgresUs.toFixed(0)} µs` : 'PostgreSQL CPU not measured on this backend'}. The load generator's thread is in neither.`,
      `Cached resolve: the app's TenantResolution (subdomain, custom-domain, X-Tenant-ID resolvers over the cached catalog) in process without HTTP, ${cost.iterations} iterations, median of 3; \`cached_resolve_and_api_key\` adds the cached API-key check (SHA-256 of the key).`,
      `Load average (1 min, ${os.cpus().length} cores): ${loadAtStart.toFixed(1)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end. Server, load generator${context.backend.name === 'postgres' ? ' and PostgreSQL' : ''} share these cores.`,
    ]
    if (context.backend.name === 'pglite') {
      notes.push('PGlite: the SaaS runs embedded as `npm start` runs it (file-backed PGlite for the control plane, shared and schema tenants; a PGlite of its own for initech); queries are serialized on one connection, so every variant is bound by the engine in this process, which the server shares.')
    }
    return { figures, notes }
  },
}
