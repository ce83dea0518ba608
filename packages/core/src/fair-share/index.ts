/**
 * Fair share between tenants: `tenantAdmission` (rate limit + bulkhead behind
 * the `TenantAdmission` contract adapters call), and what the rate limiter,
 * bulkhead and tenant cache share: the tenant shape they read, the logger hook,
 * and the guard (timeout + circuit breaker) around a remote store.
 */
export { routeKey, tenantAdmission, type CostOf, type TenantAdmissionOptions } from './admission.ts'
export { silentLogger, type FairShareLogger } from './logger.ts'
export type { FairShareTenant } from './tenant.ts'
export {
  StoreGuard,
  StoreSkippedError,
  StoreTimeoutError,
  type GuardOutcome,
  type StoreGuardOptions,
  type StoreGuardStats,
} from './store-guard.ts'
