export { SchemaPerTenantIsolation, type SchemaPerTenantOptions, type SchemaSetup } from './schema-per-tenant.ts'
export { schemaOf, tenantSchemaName } from './names.ts'
export { SCHEMA_TENANT_POLICY, installSchemaWalls, schemaPolicyExpression } from './schema-walls.ts'
