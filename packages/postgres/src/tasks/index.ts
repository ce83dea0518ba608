export { forEachTenant, type ForEachTenantOptions, type TenantLister, type TenantTaskOutcome, type TenantTaskSummary } from './for-each-tenant.ts'
