/**
 * @tenantry/core: tenant context, tenant model, lifecycle and the error catalogue.
 * Adapters and data layers import only this entry.
 */
export * from './errors/index.ts'
export * from './context/index.ts'
export * from './tenant/index.ts'
