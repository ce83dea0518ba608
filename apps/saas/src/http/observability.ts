/**
 * What the SaaS watches: Prometheus metrics by tenant (top K + `other`),
 * OpenTelemetry spans by tenant (recorded when an SDK is registered), and the
 * live view the admin console charts, all fed by the library's observers.
 */
import { LiveView, combineObservers, combineQueryObservers, liveViewObserver, type QueryObserver, type RequestObserver } from '@tenantry/core'
import { TenantMetrics, TenantTracing } from '@tenantry/observability'
import type { FastifyInstance } from 'fastify'
import { adminGuard } from './admin-guard.ts'

/** The SaaS's watchers, and the observers to give createTenantry. */
export interface SaasObservability {
  readonly metrics: TenantMetrics
  readonly tracing: TenantTracing
  readonly live: LiveView
  readonly requests: RequestObserver
  readonly queries: QueryObserver
  /**
   * Turns every watcher on or off at once (on at start): off, the observers
   * skip each request and query; `{ requests, queries }` turns each side on
   * or off. The HTTP benchmark compares the two in one run.
   */
  setEnabled(on: boolean | { readonly requests: boolean; readonly queries: boolean }): void
}

/**
 * The metrics (the `topTenants` busiest tenants keep a label), the tracer and
 * the live view, with one request observer and one query observer over them.
 *
 * @example
 * const observed = saasObservability({ topTenants: 50 })
 * const tenantry = await createTenantry({ ...config, observe: { requests: observed.requests, queries: observed.queries } })
 */
export function saasObservability(options: { topTenants?: number } = {}): SaasObservability {
  const metrics = new TenantMetrics({ topTenants: options.topTenants ?? 50 })
  const tracing = new TenantTracing({ name: '@tenantry/saas' })
  // 10-second buckets over 3 minutes: charts that move within seconds; about 46 MB at 10,000 busy tenants.
  const live = new LiveView({ bucketMs: 10_000, windowMs: 180_000 })
  const requests = combineObservers(metrics.observer(), tracing.observer(), liveViewObserver(live))
  const queries = combineQueryObservers(metrics.queryObserver(), tracing.queryObserver())
  let requestsOn = true
  let queriesOn = true
  return {
    metrics,
    tracing,
    live,
    requests: { start: (request) => (requestsOn ? requests.start(request) : undefined) },
    queries: { start: (tenant) => (queriesOn ? queries.start(tenant) : undefined) },
    setEnabled(on) {
      requestsOn = typeof on === 'boolean' ? on : on.requests
      queriesOn = typeof on === 'boolean' ? on : on.queries
    },
  }
}

/**
 * `GET /metrics` on the bare host, behind the admin token: the Prometheus
 * text format (DESIGN §6).
 *
 * @example
 * await app.register(metricsRoute, { metrics, token, baseDomain: 'localhost' })
 */
export async function metricsRoute(app: FastifyInstance, options: { metrics: TenantMetrics; token: string; baseDomain: string }): Promise<void> {
  const guard = adminGuard({ token: options.token, baseDomain: options.baseDomain })
  app.get('/metrics', { config: { tenant: false }, onRequest: guard }, async (_request, reply) => {
    const text = await options.metrics.text()
    return reply.type(options.metrics.contentType).send(text)
  })
}
