export { DatabasePerTenantIsolation, type DatabasePerTenantOptions, type DatabaseSetup } from './database-per-tenant.ts'
export { tenantDatabaseName, tenantRoleName } from './names.ts'
export { serverProvisioner, type DatabaseProvisioner } from './provisioners.ts'
