/**
 * @tenantry/core: tenant context, tenant model, lifecycle and the error catalogue.
 * Adapters and data layers import only this entry.
 */
export * from './errors/index.ts'
export * from './context/index.ts'
export * from './tenant/index.ts'
export * from './resolve/index.ts'
export * from './ratelimit/index.ts'
export * from './cache/index.ts'
export * from './bulkhead/index.ts'
export * from './admission/index.ts'
export * from './fair-share/index.ts'
export * from './observability/index.ts'
export * from './jobs/index.ts'
export * from './services/index.ts'
