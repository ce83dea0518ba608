export { SchemaPerTenantIsolation, type SchemaPerTenantOptions, type SchemaSetup } from './schema-per-tenant.ts'
export { tenantSchemaName } from './names.ts'
