export { SchemaPerTenantIsolation, schemaOf, tenantSchemaName, type SchemaPerTenantOptions, type SchemaSetup } from './schema-per-tenant.ts'
export { SCHEMA_TENANT_POLICY, installSchemaWalls, schemaPolicyExpression } from './schema-walls.ts'
