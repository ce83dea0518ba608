/**
 * Per-tenant concurrency bulkheads: a cap on each tenant's in-flight work in
 * this process, a short queue with a timeout, then OVERLOADED. See docs/bulkheads.md.
 */
export {
  TenantBulkhead,
  type AcquireOptions,
  type BulkheadLimits,
  type BulkheadPermit,
  type BulkheadStats,
  type TenantBulkheadOptions,
} from './bulkhead.ts'
