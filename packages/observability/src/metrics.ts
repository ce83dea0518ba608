/**
 * Per-tenant Prometheus metrics with a bounded tenant label: the k busiest
 * tenants (by decayed traffic, `TenantLabels`) keep their own `tenant` label,
 * the rest are counted as `other`, and a tenant that loses its label has its
 * series removed; so the series count stays bounded whatever the number of
 * tenants.
 */
import {
  TenantLabels, TenantryError, validationError,
  type QueryObserver, type RequestObservation, type RequestObserver, type RequestOutcome, type Tenant, type ValidationIssue,
} from '@tenantry/core'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** What a query observer reports for one query (see `TenantMetrics.query`). */
export interface QueryOutcome {
  /** The tenant whose scope ran it. */
  readonly tenant: Pick<Tenant, 'id' | 'slug'> & { readonly isolation?: string }
  /** The isolation model that ran it: shared, schema or database. */
  readonly model: string
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
  readonly #requests: Counter<'tenant' | 'method' | 'route' | 'status_class'>
  readonly #duration: Histogram<'tenant'>
  readonly #limited: Counter<'tenant'>
  readonly #rejected: Counter<'tenant'>
  readonly #queries: Counter<'tenant' | 'model' | 'outcome'>
  readonly #queryDuration: Histogram<'tenant' | 'model'>
  readonly #info: Gauge<'tenant' | 'slug' | 'isolation'>
  readonly #migrations: Counter<'status'>
  /** Per labelled tenant: the label sets its series use, to remove when it loses the label. */
  readonly #series = new Map<string, Map<string, { metric: Counter<string> | Histogram<string> | Gauge<string>; labels: Record<string, string> }>>()
  readonly #routes = new Set<string>()
  readonly #routers: { stats(): PoolRouterStatsLike }[] = []
  readonly #maxRoutes: number
  readonly #observer: RequestObserver
  readonly #queryObserver: QueryObserver = {
    start: (tenant) => {
      const started = performance.now()
      return { end: (failed) => this.query({ tenant, model: tenant.isolation ?? 'shared', durationMs: performance.now() - started, failed }) }
    },
  }

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
    this.#requests = new Counter({ name: `${prefix}http_requests_total`, help: 'Tenant requests, by tenant (top K, else other), method, route pattern and status class', labelNames: ['tenant', 'method', 'route', 'status_class'], registers })
    this.#duration = new Histogram({ name: `${prefix}http_request_duration_seconds`, help: 'Tenant request latency, by tenant (top K, else other)', labelNames: ['tenant'], buckets: [...buckets], registers })
    this.#limited = new Counter({ name: `${prefix}rate_limited_total`, help: 'Requests refused by the rate limiter (429), by tenant', labelNames: ['tenant'], registers })
    this.#rejected = new Counter({ name: `${prefix}bulkhead_rejected_total`, help: 'Requests refused by the bulkhead (503), by tenant', labelNames: ['tenant'], registers })
    this.#queries = new Counter({ name: `${prefix}queries_total`, help: 'Queries run in a tenant scope, by tenant, isolation model and outcome', labelNames: ['tenant', 'model', 'outcome'], registers })
    this.#queryDuration = new Histogram({ name: `${prefix}query_duration_seconds`, help: 'Query time in a tenant scope, by tenant and isolation model', labelNames: ['tenant', 'model'], buckets: [...buckets], registers })
    this.#info = new Gauge({ name: `${prefix}tenant_info`, help: 'One per tenant with a label of its own: its slug and isolation model', labelNames: ['tenant', 'slug', 'isolation'], registers })
    this.#migrations = new Counter({ name: `${prefix}migration_runs_total`, help: 'Fleet migration runs, by outcome', labelNames: ['status'], registers })
    this.#routers.push(...(options.poolRouters ?? []))
    this.#poolMetrics(prefix, registers)
    const observation: RequestObservation = { end: (outcome) => this.request(outcome) }
    this.#observer = { start: () => observation }
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
   * Counts one finished tenant request (what the observer calls).
   *
   * @example
   * metrics.request({ method: 'GET', route: '/api/projects', status: 200, tenant, durationMs: 3.2, limited: false, rejected: false })
   */
  request(outcome: RequestOutcome): void {
    const tenant = outcome.tenant === undefined ? 'none' : this.#label(outcome.tenant)
    const route = this.#route(outcome.route)
    const labels = { tenant, method: outcome.method, route, status_class: statusClass(outcome.status) }
    this.#requests.inc(labels)
    this.#remember(tenant, this.#requests, labels)
    const seconds = outcome.durationMs / 1000
    this.#duration.observe({ tenant }, seconds)
    this.#remember(tenant, this.#duration, { tenant })
    if (outcome.limited) {
      this.#limited.inc({ tenant })
      this.#remember(tenant, this.#limited, { tenant })
    }
    if (outcome.rejected) {
      this.#rejected.inc({ tenant })
      this.#remember(tenant, this.#rejected, { tenant })
    }
  }

  /**
   * Counts one query run in a tenant scope (what `queryObserver()` calls).
   *
   * @example
   * metrics.query({ tenant, model: 'shared', durationMs: 0.8, failed: false })
   */
  query(outcome: QueryOutcome): void {
    const tenant = this.#label(outcome.tenant)
    const labels = { tenant, model: outcome.model, outcome: outcome.failed ? 'error' : 'ok' }
    this.#queries.inc(labels)
    this.#remember(tenant, this.#queries, labels)
    this.#queryDuration.observe({ tenant, model: outcome.model }, outcome.durationMs / 1000)
    this.#remember(tenant, this.#queryDuration, { tenant, model: outcome.model })
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
    return this.#labels.labeled()
  }

  #label(tenant: Pick<Tenant, 'id' | 'slug'> & { readonly isolation?: string }): string {
    const label = this.#labels.label(tenant.id)
    if (label !== OTHER && !this.#series.has(label)) {
      this.#series.set(label, new Map())
      const info = { tenant: label, slug: tenant.slug, isolation: tenant.isolation ?? 'unknown' }
      this.#info.set(info, 1)
      this.#remember(label, this.#info, info)
    }
    return label
  }

  #route(route: string): string {
    if (this.#routes.has(route)) return route
    if (this.#routes.size >= this.#maxRoutes) return OTHER
    this.#routes.add(route)
    return route
  }

  #remember(tenant: string, metric: Counter<string> | Histogram<string> | Gauge<string>, labels: Record<string, string>): void {
    const series = this.#series.get(tenant)
    if (series === undefined) return
    const key = `${(metric as unknown as { name: string }).name}\u0000${Object.values(labels).join('\u0000')}`
    if (!series.has(key)) series.set(key, { metric, labels })
  }

  #evict(tenantId: string): void {
    const series = this.#series.get(tenantId)
    if (series === undefined) return
    this.#series.delete(tenantId)
    for (const { metric, labels } of series.values()) metric.remove(labels)
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
