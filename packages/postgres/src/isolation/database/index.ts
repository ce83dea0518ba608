export { DatabasePerTenantIsolation, installDatabaseWalls, type DatabasePerTenantOptions, type DatabaseSetup } from './database-per-tenant.ts'
export { databaseKeyOf, tenantDatabaseName, tenantRoleName } from './names.ts'
export { serverProvisioner, type DatabaseProvisioner } from './provisioners.ts'
