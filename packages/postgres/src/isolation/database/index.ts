export { DatabasePerTenantIsolation, databaseKeyOf, installDatabaseWalls, tenantDatabaseName, tenantRoleName, type DatabasePerTenantOptions, type DatabaseSetup } from './database-per-tenant.ts'
export { pgliteProvisioner, serverProvisioner, type DatabaseProvisioner } from './provisioners.ts'
