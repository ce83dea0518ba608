export { SchemaPerTenantIsolation, schemaOf, tenantSchemaName, type SchemaPerTenantOptions, type SchemaSetup } from './schema-per-tenant.ts'
