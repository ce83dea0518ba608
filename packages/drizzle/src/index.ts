/**
 * @tenantry/drizzle: Drizzle ORM on Tenantry. `tenantryDrizzle(tenantry)` is a
 * Drizzle database over the tenant-scoped pool (every isolation model),
 * `tenantId()` the tenant column of a shared table in a Drizzle schema, and
 * `drizzleRunner(db)` runs the isolation conformance kit through Drizzle.
 */
export { tenantryDrizzle, type TenantryDrizzle } from './tenantry-drizzle.ts'
export type { TenantPoolSource } from '@tenantry/postgres'
export { tenantId } from './tenant-column.ts'
export { drizzleRunner, type AnyPgDatabase } from './drizzle-runner.ts'
