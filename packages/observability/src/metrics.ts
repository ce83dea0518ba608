/**
 * Per-tenant Prometheus metrics with a bounded tenant label: the k busiest
 * tenants (by decayed traffic, `TenantLabels`) keep their own `tenant` label,
 * the rest are counted as `other`, and a tenant that loses its label has its
 * series removed; so the series count stays bounded whatever the number of
 * tenants.
 */
import { performance } from 'node:perf_hooks'
import {
  TenantLabels, TenantryError, steadyObserver, validationError,
  type JobObserver, type JobOutcome, type QueryObservation, type QueryObserver, type RequestObservation, type RequestObserver, type RequestOutcome, type Tenant, type ValidationIssue,
} from '@tenantry/core'
import { Counter, Gauge, Registry } from 'prom-client'

type TenantFields = Pick<Tenant, 'id' | 'slug'> & { readonly isolation?: string }

/** One query as `TenantMetrics.query` counts it (what the query observer passes on). */
export interface QueryCount {
  /** The tenant whose scope ran it. */
  readonly tenant: Pick<Tenant, 'id' | 'slug'> & { readonly isolation?: string }
  /** The isolation model that ran it: shared, schema or database; default the tenant's `isolation`, else `shared`. */
  readonly model?: string
  readonly durationMs: number
  /** True when the query failed (a database error or a refusal). */
  readonly failed: boolean
}

/** The pool router's figures, as `PoolRouter.stats()` gives them. */
export interface PoolRouterStatsLike {
  readonly budget: number
  readonly openConnections: number
  readonly checkedOut: number
  readonly waiters: number
  readonly poolOpens: number
  readonly connectionOpens: number
  readonly connectFailures: number
  readonly timeouts: number
  readonly evictions: { readonly idle: number; readonly lru: number; readonly budget: number }
  readonly databases: readonly { readonly server: string; readonly database: string; readonly openConnections: number; readonly checkedOut: number; readonly waiters: number }[]
}

export interface TenantMetricsOptions {
  /** The registry the metrics go in; default a new one (`metrics.registry`). */
  readonly registry?: Registry
  /** Metric name prefix; default `tenantry_`. */
  readonly prefix?: string
  /** Tenants that keep a label of their own; default 100. The rest are `other`. */
  readonly topTenants?: number
  /** Half-life of the traffic that ranks tenants, ms; default 600,000 (10 minutes). */
  readonly halfLifeMs?: number
  /** Distinct `route` label values kept; past it a new route is counted as `other`. Default 200. */
  readonly maxRoutes?: number
  /** Latency buckets, seconds. */
  readonly buckets?: readonly number[]
  /** The pool router(s) to report, read at each scrape. */
  readonly poolRouters?: readonly { stats(): PoolRouterStatsLike }[]
}

const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const OTHER = TenantLabels.OTHER
/** The tenant label of a request whose tenant was not resolved. */
const NONE = 'none'
/** A request's flags: refused by the rate limiter (429), by the bulkhead (503); a query's: it failed. */
const LIMITED = 1
const REJECTED = 2
const FAILED = 4
/** Requests and queries held before they are counted in one pass (or at a read, or a job's count). */
const HELD = 256
const REQUEST = 0
const QUERY = 1

/**
 * Requests and queries read but not counted yet, in the order they came: in
 * columns of text and numbers (nothing of an outcome object is kept), so
 * holding one allocates nothing.
 */
interface Held {
  size: number
  readonly kind: Uint8Array
  readonly tenant: (string | undefined)[]
  readonly slug: (string | undefined)[]
  readonly isolation: (string | undefined)[]
  /** A request's route, a query's model. */
  readonly name: (string | undefined)[]
  readonly method: (string | undefined)[]
  readonly status: Float64Array
  readonly durationMs: Float64Array
  readonly flags: Uint8Array
  readonly at: Float64Array
}

function held(): Held {
  const strings = (): (string | undefined)[] => new Array<string | undefined>(HELD).fill(undefined)
  return {
    size: 0, kind: new Uint8Array(HELD), tenant: strings(), slug: strings(), isolation: strings(), name: strings(), method: strings(),
    status: new Float64Array(HELD), durationMs: new Float64Array(HELD), flags: new Uint8Array(HELD), at: new Float64Array(HELD),
  }
}

/**
 * When traffic came, for the tenant ranking: a monotonic clock in ms read at
 * most every 100 ms, by one timer that does not keep the process alive. The
 * ranking weighs traffic in steps of a 1,024th of its half-life (600 ms by
 * default), so it needs no finer time, and a request or a query then costs no
 * clock read of its own.
 */
const RANKING_TICK_MS = 100
let rankingNow = performance.now()
let rankingClock: ReturnType<typeof setInterval> | undefined

function rankingTime(): number {
  if (rankingClock === undefined) {
    rankingClock = setInterval(() => {
      rankingNow = performance.now()
    }, RANKING_TICK_MS)
    rankingClock.unref()
    rankingNow = performance.now()
  }
  return rankingNow
}

/** A latency histogram of one series: counts per bucket (the last is +Inf), sum and count. */
interface Buckets {
  readonly counts: number[]
  sum: number
  count: number
}

/** One request series: its labels and count. */
interface RequestSeries {
  readonly labels: Readonly<Record<string, string>>
  count: number
}

/**
 * What one tenant label (an id, `other`, `none`) has counted: plain numbers
 * on the request path (prom-client would validate and hash the label set on
 * every call), read into the Prometheus text format at each scrape. Dropped
 * whole when the tenant loses its label: its series go with it.
 */
interface LabelSeries {
  readonly tenant: string
  readonly slug: string | undefined
  readonly isolation: string | undefined
  /** By route, method and status: nested maps, so counting a request builds no key. */
  readonly requests: Map<string, Map<string, Map<number, RequestSeries>>>
  readonly duration: Buckets
  limited: number
  rejected: number
  /** By isolation model. */
  readonly models: Map<string, { ok: number; error: number; readonly duration: Buckets }>
  /** By queue: how jobs ended, and their run time. */
  readonly jobs: Map<string, JobCounts>
}

interface JobCounts {
  completed: number
  failed: number
  parked: number
  dropped: number
  readonly duration: Buckets
}

/** A metric value as prom-client's registry formats it. */
interface MetricValue {
  readonly value: number
  readonly labels: Readonly<Record<string, string | number>>
  readonly metricName?: string
}

/**
 * A metric prom-client's registry renders (its custom-metric contract: a
 * name, help, type and `get()`), whose values Tenantry keeps itself.
 */
class CollectedMetric {
  readonly aggregator = 'sum'
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
    readonly read: () => MetricValue[],
  ) {}

  get(): { name: string; help: string; type: string; values: MetricValue[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: this.aggregator }
  }

  reset(): void {}
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other'
}

/**
 * Prometheus metrics by tenant, for a whole Tenantry app:
 *
 * - `tenantry_http_requests_total{tenant, method, route, status_class}`
 * - `tenantry_http_request_duration_seconds{tenant}` (histogram)
 * - `tenantry_rate_limited_total{tenant}`, `tenantry_bulkhead_rejected_total{tenant}`
 * - `tenantry_queries_total{tenant, model, outcome}`, `tenantry_query_duration_seconds{tenant, model}`
 * - `tenantry_tenant_info{tenant, slug, isolation}` (1 for each labelled tenant: join on `tenant`)
 * - `tenantry_jobs_total{tenant, queue, outcome}`, `tenantry_job_duration_seconds{tenant, queue}` (`jobObserver()`)
 * - `tenantry_migration_runs_total{status}`
 * - the pool router: `tenantry_pool_connections{database, state}`, `tenantry_pool_waiters{database}`
 *   (the open databases), `tenantry_pool_opens_total`, `tenantry_pool_evictions_total{reason}`, …
 *
 * `tenant` is the tenant's id for the `topTenants` busiest tenants, else
 * `other`; at most `topTenants + 1` tenant values exist at any moment.
 *
 * @example
 * const metrics = new TenantMetrics({ topTenants: 50, poolRouters: [router] })
 * await app.register(tenantryFastify, { resolution, observer: metrics.observer() })
 * app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()))
 */
export class TenantMetrics {
  readonly registry: Registry
  readonly #labels: TenantLabels
  readonly #bounds: readonly number[]
  readonly #migrations: Counter<'status'>
  /** Per tenant label (an id, `other`, `none`): what it has counted. */
  readonly #series = new Map<string, LabelSeries>()
  readonly #routes = new Set<string>()
  readonly #queues = new Set<string>()
  readonly #jobObserver: JobObserver = { end: (outcome) => this.job(outcome) }
  readonly #routers: { stats(): PoolRouterStatsLike }[] = []
  readonly #maxRoutes: number
  readonly #held = held()
  readonly #observer: RequestObserver
  /** Stateless (the driver times the query): one observation serves every query, nothing allocated. */
  readonly #queryObserver: QueryObserver = steadyObserver<QueryObservation>({ end: (outcome) => this.query(outcome) })

  constructor(options: TenantMetricsOptions = {}) {
    const issues: ValidationIssue[] = []
    const prefix = options.prefix ?? 'tenantry_'
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) issues.push({ path: 'options.prefix', message: 'must be a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)' })
    const top = options.topTenants ?? 100
    if (!Number.isSafeInteger(top) || top < 1 || top > 10_000) issues.push({ path: 'options.topTenants', message: 'must be a whole number from 1 to 10,000' })
    const maxRoutes = options.maxRoutes ?? 200
    if (!Number.isSafeInteger(maxRoutes) || maxRoutes < 1) issues.push({ path: 'options.maxRoutes', message: 'must be a positive whole number' })
    const buckets = options.buckets ?? DEFAULT_BUCKETS
    if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b) => typeof b !== 'number' || !(b > 0))) issues.push({ path: 'options.buckets', message: 'must be positive numbers of seconds' })
    if (issues.length > 0) throw validationError(issues)
    this.registry = options.registry ?? new Registry()
    this.#maxRoutes = maxRoutes
    this.#labels = new TenantLabels({ k: top, ...(options.halfLifeMs === undefined ? {} : { halfLifeMs: options.halfLifeMs }), onEvict: (id) => this.#evict(id) })
    const registers = [this.registry]
    this.#bounds = [...buckets].sort((x, y) => x - y)
    for (const metric of this.#collected(prefix)) this.registry.registerMetric(metric as never)
    this.#migrations = new Counter({ name: `${prefix}migration_runs_total`, help: 'Fleet migration runs, by outcome', labelNames: ['status'], registers })
    this.#routers.push(...(options.poolRouters ?? []))
    this.#poolMetrics(prefix, registers)
    // Stateless as well: one observation serves every request (combineObservers never starts it per request).
    this.#observer = steadyObserver<RequestObservation>({ end: (outcome) => this.request(outcome) })
  }

  /** The content type of `text()` (the Prometheus text format). */
  get contentType(): string {
    return this.registry.contentType
  }

  /** The metrics in the Prometheus text format, for `GET /metrics`. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  /**
   * The request observer for the HTTP adapters' `observer` option (or
   * `combineObservers`): counts each finished tenant request.
   *
   * @example
   * app.use(tenantryExpress({ resolution, observer: metrics.observer() }))
   */
  observer(): RequestObserver {
    return this.#observer
  }

  /**
   * The query observer for `TenantData`'s `queryObserver` (or
   * `createTenantry({ observe: { queries } })`): times and counts each query
   * of a tenant, by its isolation model.
   *
   * @example
   * const data = new TenantData(models, { queryObserver: metrics.queryObserver() })
   */
  queryObserver(): QueryObserver {
    return this.#queryObserver
  }

  /**
   * Counts one finished tenant request (what the observer calls). What is
   * counted is read from the outcome now (its tenant's id, slug and
   * isolation, route, method, status, duration and flags: text and numbers,
   * nothing of the objects), held, and counted with up to 255 others in one
   * pass, in the order they came, before any read (`text()`, a scrape of the
   * registry, `labelledTenants()`) or a job's count. Its tenant is ranked as of
   * when it came.
   *
   * @example
   * metrics.request({ method: 'GET', route: '/api/projects', status: 200, tenant, durationMs: 3.2, limited: false, rejected: false })
   */
  request(outcome: RequestOutcome): void {
    if (typeof outcome !== 'object' || outcome === null || typeof outcome.route !== 'string' || typeof outcome.method !== 'string') {
      throw validationError([{ path: 'outcome', message: 'must be a RequestOutcome { method, route, status, tenant?, durationMs, limited, rejected }' }])
    }
    // Every field read before a slot is taken: a getter that counts or reads the metrics itself cannot
    // land in the middle of this request's slot.
    const tenant = outcome.tenant
    const tenantId = tenant === undefined ? undefined : tenant.id
    const slug = tenant === undefined ? undefined : tenant.slug
    const isolation = tenant === undefined ? undefined : (tenant as TenantFields).isolation
    const route = outcome.route
    const method = outcome.method
    const status = outcome.status
    const durationMs = outcome.durationMs
    const flags = (outcome.limited ? LIMITED : 0) | (outcome.rejected ? REJECTED : 0)
    this.#hold(REQUEST, tenantId, slug, isolation, route, method, status, durationMs, flags)
  }

  /** Holds one request or query, already read (no user code runs here), in the next slot; counts at HELD. */
  #hold(kind: number, tenantId: string | undefined, slug: string | undefined, isolation: string | undefined, name: string, method: string | undefined, status: number, durationMs: number, flags: number): void {
    const held = this.#held
    const i = held.size
    held.kind[i] = kind
    held.tenant[i] = tenantId
    held.slug[i] = slug
    held.isolation[i] = isolation
    held.name[i] = name
    held.method[i] = method
    held.status[i] = status
    held.durationMs[i] = durationMs
    held.flags[i] = flags
    held.at[i] = rankingTime()
    if ((held.size = i + 1) === HELD) this.#count()
  }

  #countRequest(tenantId: string | undefined, slug: string | undefined, isolation: string | undefined, routeName: string, method: string, status: number, durationMs: number, flags: number, at: number): void {
    // A refusal at the door (401: no caller; 403: another tenant's key or token, a suspended tenant; 429: over the
    // limit, refused before the caller is checked) is counted under the label the tenant has, and does not move
    // the ranking: such requests cost their sender nothing, and cannot take labels from tenants served for real.
    const series = tenantId === undefined ? this.#none() : this.#seriesUnder(status === 401 || status === 403 || status === 429 ? this.#labels.peek(tenantId) : this.#labels.label(tenantId, 1, at), slug, isolation)
    // Keyed by the label's route (at most maxRoutes, then `other`): raw paths never grow the map.
    // A request with no tenant (unknown host, probes) never takes one of the maxRoutes labels: its raw path is not a route.
    const route = tenantId === undefined ? OTHER : this.#route(routeName)
    let byMethod = series.requests.get(route)
    if (byMethod === undefined) series.requests.set(route, (byMethod = new Map()))
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()))
    let requests = byStatus.get(status)
    if (requests === undefined) {
      requests = { labels: { tenant: series.tenant, method, route, status_class: statusClass(status) }, count: 0 }
      byStatus.set(status, requests)
    }
    requests.count++
    this.#observe(series.duration, durationMs / 1000)
    if ((flags & LIMITED) !== 0) series.limited++
    if ((flags & REJECTED) !== 0) series.rejected++
  }

  /**
   * Counts one query run in a tenant scope (what `queryObserver()` calls):
   * read now, held and counted in a batch, as `request()`.
   *
   * @example
   * metrics.query({ tenant, model: 'shared', durationMs: 0.8, failed: false })
   */
  query(outcome: QueryCount): void {
    if (typeof outcome !== 'object' || outcome === null || typeof outcome.tenant?.id !== 'string') {
      throw validationError([{ path: 'outcome', message: 'must be { tenant: { id, slug, isolation? }, model?, durationMs, failed }' }])
    }
    // Read before a slot is taken, as request().
    const tenant = outcome.tenant
    const tenantId = tenant.id
    const slug = tenant.slug
    const isolation = tenant.isolation
    const model = outcome.model ?? isolation ?? 'shared'
    const durationMs = outcome.durationMs
    const flags = outcome.failed ? FAILED : 0
    this.#hold(QUERY, tenantId, slug, isolation, model, undefined, 0, durationMs, flags)
  }

  #countQuery(tenantId: string, slug: string | undefined, isolation: string | undefined, name: string, durationMs: number, failed: boolean, at: number): void {
    const series = this.#seriesUnder(this.#labels.label(tenantId, 1, at), slug, isolation)
    let model = series.models.get(name)
    if (model === undefined) series.models.set(name, (model = { ok: 0, error: 0, duration: this.#buckets() }))
    if (failed) model.error++
    else model.ok++
    this.#observe(model.duration, durationMs / 1000)
  }

  /**
   * Counts what is held, in the order it came: in one pass, with the maps,
   * the ranking and the histograms warm, rather than a few cold lookups on
   * every request and query.
   */
  #count(): void {
    const held = this.#held
    const n = held.size
    if (n === 0) return
    // Emptied first: an onEvict or a throw below cannot count an event twice.
    held.size = 0
    for (let i = 0; i < n; i++) {
      const tenantId = held.tenant[i]
      if (held.kind[i] === REQUEST) {
        this.#countRequest(tenantId, held.slug[i], held.isolation[i], held.name[i] as string, held.method[i] as string, held.status[i] as number, held.durationMs[i] as number, held.flags[i] as number, held.at[i] as number)
      } else {
        this.#countQuery(tenantId as string, held.slug[i], held.isolation[i], held.name[i] as string, held.durationMs[i] as number, ((held.flags[i] as number) & FAILED) !== 0, held.at[i] as number)
      }
      // Nothing held keeps a string alive once counted.
      held.tenant[i] = held.slug[i] = held.isolation[i] = held.name[i] = held.method[i] = undefined
    }
  }

  /**
   * The job observer for `new JobTenancy({ observer })`: counts each job's
   * end by tenant (`none` for system jobs and jobs whose tenant is gone),
   * queue and outcome, and times it.
   *
   * @example
   * const jobs = new JobTenancy({ tenants: tenantry.directory, observer: metrics.jobObserver() })
   */
  jobObserver(): JobObserver {
    return this.#jobObserver
  }

  /**
   * Counts one job's end (what `jobObserver()` calls).
   *
   * @example
   * metrics.job({ tenant, queue: 'reports', outcome: 'completed', durationMs: 41 })
   */
  job(outcome: JobOutcome): void {
    // Jobs are few: counted at once, after the requests and queries held before them.
    this.#count()
    const tenant = outcome.tenant
    const series = tenant === undefined ? this.#none() : this.#seriesUnder(this.#labels.label(tenant.id, 1, rankingTime()), tenant.slug, (tenant as TenantFields).isolation)
    const queue = this.#queue(outcome.queue)
    let counts = series.jobs.get(queue)
    if (counts === undefined) series.jobs.set(queue, (counts = { completed: 0, failed: 0, parked: 0, dropped: 0, duration: this.#buckets() }))
    counts[outcome.outcome]++
    this.#observe(counts.duration, outcome.durationMs / 1000)
  }

  /** A queue's label: its name for the first `maxQueues` (100) seen, then `other`. */
  #queue(queue: string): string {
    if (this.#queues.has(queue)) return queue
    if (this.#queues.size >= 100) return OTHER
    this.#queues.add(queue)
    return queue
  }

  /**
   * Counts a fleet migration run by its outcome (`ok`, `failed`, `partial`).
   *
   * @example
   * const summary = await tenantry.migrate()
   * metrics.migrationRun(summary.failed > 0 ? 'failed' : 'ok')
   */
  migrationRun(status: string): void {
    if (typeof status !== 'string' || !/^[a-z_]{1,32}$/.test(status)) throw new TenantryError('VALIDATION_FAILED', 'migrationRun(status): status must be a short lower-case word such as "ok" or "failed"')
    this.#migrations.inc({ status })
  }

  /**
   * Reports a pool router (the database model's connections) from the next
   * scrape on: per open database, and its running totals (summed over routers).
   *
   * @example
   * if (tenantry.router) metrics.watchPoolRouter(tenantry.router)
   */
  watchPoolRouter(router: { stats(): PoolRouterStatsLike }): void {
    if (typeof router?.stats !== 'function') throw validationError([{ path: 'router', message: 'must be a PoolRouter (a stats() method)' }])
    if (!this.#routers.includes(router)) this.#routers.push(router)
  }

  /** The tenants that have a label of their own now. */
  labelledTenants(): string[] {
    this.#count()
    return this.#labels.labeled()
  }

  /** The series of `label` (the tenant's id, or `other`), made on first use with the tenant's slug and isolation. */
  #seriesUnder(label: string, slug: string | undefined, isolation: string | undefined): LabelSeries {
    let series = this.#series.get(label)
    if (series === undefined) {
      const own = label !== OTHER
      series = this.#newSeries(label, own ? slug : undefined, own ? isolation ?? 'unknown' : undefined)
      this.#series.set(label, series)
    }
    return series
  }

  /** The series of requests whose tenant was not resolved. */
  #none(): LabelSeries {
    let series = this.#series.get(NONE)
    if (series === undefined) this.#series.set(NONE, (series = this.#newSeries(NONE, undefined, undefined)))
    return series
  }

  #newSeries(tenant: string, slug: string | undefined, isolation: string | undefined): LabelSeries {
    return { tenant, slug, isolation, requests: new Map(), duration: this.#buckets(), limited: 0, rejected: 0, models: new Map(), jobs: new Map() }
  }

  #buckets(): Buckets {
    return { counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 }
  }

  #observe(buckets: Buckets, seconds: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && seconds > (bounds[i] as number)) i++
    buckets.counts[i] = (buckets.counts[i] as number) + 1
    buckets.sum += seconds
    buckets.count++
  }

  /** The per-tenant metrics, read from the series at each scrape. */
  #collected(prefix: string): CollectedMetric[] {
    // Every read counts what is held first: a scrape sees every request and query before it.
    const all = (): IterableIterator<LabelSeries> => {
      this.#count()
      return this.#series.values()
    }
    const histogram = (name: string, values: MetricValue[], labels: Record<string, string>, buckets: Buckets): void => {
      let cumulative = 0
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += buckets.counts[i] as number
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: this.#bounds[i] as number }, value: cumulative })
      }
      values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: buckets.count })
      values.push({ metricName: `${name}_sum`, labels, value: buckets.sum })
      values.push({ metricName: `${name}_count`, labels, value: buckets.count })
    }
    const requestDuration = `${prefix}http_request_duration_seconds`
    const queryDuration = `${prefix}query_duration_seconds`
    const jobDuration = `${prefix}job_duration_seconds`
    return [
      new CollectedMetric(`${prefix}http_requests_total`, 'Tenant requests, by tenant (top K, else other), method, route pattern and status class', 'counter', ['tenant', 'method', 'route', 'status_class'], () => {
        // Statuses of one class add up into one series.
        const sums = new Map<string, { labels: Readonly<Record<string, string>>; value: number }>()
        for (const series of all()) {
          for (const byMethod of series.requests.values()) for (const byStatus of byMethod.values()) for (const r of byStatus.values()) {
            const key = `${r.labels.tenant}\u0000${r.labels.method}\u0000${r.labels.route}\u0000${r.labels.status_class}`
            const sum = sums.get(key)
            if (sum === undefined) sums.set(key, { labels: r.labels, value: r.count })
            else sum.value += r.count
          }
        }
        return [...sums.values()]
      }),
      new CollectedMetric(requestDuration, 'Tenant request latency, by tenant (top K, else other)', 'histogram', ['tenant'], () => {
        const values: MetricValue[] = []
        for (const series of all()) if (series.duration.count > 0) histogram(requestDuration, values, { tenant: series.tenant }, series.duration)
        return values
      }),
      new CollectedMetric(`${prefix}rate_limited_total`, 'Requests refused by the rate limiter (429), by tenant', 'counter', ['tenant'], () =>
        [...all()].filter((s) => s.limited > 0).map((s) => ({ labels: { tenant: s.tenant }, value: s.limited }))),
      new CollectedMetric(`${prefix}bulkhead_rejected_total`, 'Requests refused by the bulkhead (503), by tenant', 'counter', ['tenant'], () =>
        [...all()].filter((s) => s.rejected > 0).map((s) => ({ labels: { tenant: s.tenant }, value: s.rejected }))),
      new CollectedMetric(`${prefix}queries_total`, 'Queries run in a tenant scope, by tenant, isolation model and outcome', 'counter', ['tenant', 'model', 'outcome'], () => {
        const values: MetricValue[] = []
        for (const series of all()) {
          for (const [model, m] of series.models) {
            if (m.ok > 0) values.push({ labels: { tenant: series.tenant, model, outcome: 'ok' }, value: m.ok })
            if (m.error > 0) values.push({ labels: { tenant: series.tenant, model, outcome: 'error' }, value: m.error })
          }
        }
        return values
      }),
      new CollectedMetric(`${prefix}jobs_total`, 'Background jobs ended, by tenant (none: system jobs and gone tenants), queue and outcome (completed, failed, parked, dropped)', 'counter', ['tenant', 'queue', 'outcome'], () => {
        const values: MetricValue[] = []
        for (const series of all()) {
          for (const [queue, j] of series.jobs) {
            for (const outcome of ['completed', 'failed', 'parked', 'dropped'] as const) {
              if (j[outcome] > 0) values.push({ labels: { tenant: series.tenant, queue, outcome }, value: j[outcome] })
            }
          }
        }
        return values
      }),
      new CollectedMetric(jobDuration, 'Background job run time, by tenant and queue', 'histogram', ['tenant', 'queue'], () => {
        const values: MetricValue[] = []
        for (const series of all()) for (const [queue, j] of series.jobs) histogram(jobDuration, values, { tenant: series.tenant, queue }, j.duration)
        return values
      }),
      new CollectedMetric(queryDuration, 'Query time in a tenant scope, by tenant and isolation model', 'histogram', ['tenant', 'model'], () => {
        const values: MetricValue[] = []
        for (const series of all()) for (const [model, m] of series.models) histogram(queryDuration, values, { tenant: series.tenant, model }, m.duration)
        return values
      }),
      new CollectedMetric(`${prefix}tenant_info`, 'One per tenant with a label of its own: its slug and isolation model', 'gauge', ['tenant', 'slug', 'isolation'], () =>
        [...all()].filter((s) => s.slug !== undefined).map((s) => ({ labels: { tenant: s.tenant, slug: s.slug as string, isolation: s.isolation as string }, value: 1 }))),
    ]
  }

  #route(route: string): string {
    if (this.#routes.has(route)) return route
    if (this.#routes.size >= this.#maxRoutes) return OTHER
    this.#routes.add(route)
    return route
  }

  #evict(tenantId: string): void {
    // Its series go with it: the next scrape no longer has them.
    this.#series.delete(tenantId)
  }

  #poolMetrics(prefix: string, registers: Registry[]): void {
    const routers = this.#routers
    const all = (): PoolRouterStatsLike[] => routers.map((router) => router.stats())
    const stats = (): PoolRouterStatsLike => {
      const each = all()
      const sum = (read: (s: PoolRouterStatsLike) => number): number => each.reduce((total, s) => total + read(s), 0)
      return {
        budget: sum((s) => s.budget), openConnections: sum((s) => s.openConnections), checkedOut: sum((s) => s.checkedOut), waiters: sum((s) => s.waiters),
        poolOpens: sum((s) => s.poolOpens), connectionOpens: sum((s) => s.connectionOpens), connectFailures: sum((s) => s.connectFailures), timeouts: sum((s) => s.timeouts),
        evictions: { idle: sum((s) => s.evictions.idle), lru: sum((s) => s.evictions.lru), budget: sum((s) => s.evictions.budget) },
        databases: each.flatMap((s) => s.databases),
      }
    }
    new Gauge({
      name: `${prefix}pool_connections`, help: 'Connections of the pool router by open database and state (open databases only: bounded by the budget)', labelNames: ['database', 'state'], registers,
      collect() {
        this.reset()
        for (const d of stats().databases) {
          const database = `${d.server}/${d.database}`
          this.set({ database, state: 'open' }, d.openConnections)
          this.set({ database, state: 'checked_out' }, d.checkedOut)
        }
      },
    })
    new Gauge({
      name: `${prefix}pool_waiters`, help: 'Requests waiting for a connection, by open database', labelNames: ['database'], registers,
      collect() {
        this.reset()
        for (const d of stats().databases) this.set({ database: `${d.server}/${d.database}` }, d.waiters)
      },
    })
    new Gauge({ name: `${prefix}pool_budget_connections`, help: 'The pool router\'s connection budget', registers, collect() { this.set(stats().budget) } })
    const counter = (name: string, help: string, read: (s: PoolRouterStatsLike) => number): void => {
      // A counter read from the router at each scrape: set to its running total.
      new Counter({ name: `${prefix}${name}`, help, registers, collect() { this.reset(); this.inc(read(stats())) } })
    }
    counter('pool_opens_total', 'Database pools the router opened', (s) => s.poolOpens)
    counter('pool_connection_opens_total', 'Connections the router opened', (s) => s.connectionOpens)
    counter('pool_connect_failures_total', 'Connections the router failed to open', (s) => s.connectFailures)
    counter('pool_timeouts_total', 'Checkouts that timed out waiting for a connection', (s) => s.timeouts)
    new Counter({
      name: `${prefix}pool_evictions_total`, help: 'Pools or connections the router closed, by reason (idle, lru, budget)', labelNames: ['reason'], registers,
      collect() {
        this.reset()
        const { evictions } = stats()
        this.inc({ reason: 'idle' }, evictions.idle)
        this.inc({ reason: 'lru' }, evictions.lru)
        this.inc({ reason: 'budget' }, evictions.budget)
      },
    })
  }
}
