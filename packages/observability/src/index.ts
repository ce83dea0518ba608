/**
 * @tenantry/observability: see every tenant. Prometheus metrics by tenant with
 * a bounded label (`TenantMetrics`), OpenTelemetry spans and baggage by tenant
 * (`TenantTracing`), and pino logging with the tenant and request id on every
 * line (`createTenantLogger`). Each plugs into the HTTP adapters' `observer`
 * option and TenantData's `queryObserver`.
 */
export { TenantMetrics, type PoolRouterStatsLike, type QueryCount, type TenantMetricsOptions } from './metrics.ts'
export { TENANT_ATTRIBUTES, TENANT_BAGGAGE, TenantTracing, injectTenantBaggage, type TenantTracingOptions } from './tracing.ts'
export {
  REDACTED_PATHS, bindLogTenant, createTenantLogger, currentRequestId, requestIdFrom, runWithRequestId, serializeError, tenantLogOptions, type TenantLogOptions,
} from './logging.ts'
