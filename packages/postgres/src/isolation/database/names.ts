import { TenantryError, isUuid, type ScopedTenant } from '@tenantry/core'
import type { DatabaseKey } from '../../pool-router/contract.ts'

/**
 * The database a tenant gets: `tenant_` and its id without dashes (from the id, so
 * a slug reused after a deletion never reaches the old tenant's data).
 */
export function tenantDatabaseName(tenant: Pick<ScopedTenant, 'id'>): string {
  if (!isUuid(tenant.id)) throw new TenantryError('VALIDATION_FAILED', 'tenant.id must be a UUID to derive a database name')
  return `tenant_${tenant.id.replaceAll('-', '').toLowerCase()}`
}

/**
 * The role a tenant's transactions run as in its own database:
 * `<prefix>_<tenant id without dashes>`.
 *
 * @example
 * tenantRoleName('tenantry_app', tenant) // 'tenantry_app_3ecc5e81e3ac4b59bd5d090df4e65279'
 */
export function tenantRoleName(prefix: string, tenant: Pick<ScopedTenant, 'id'>): string {
  if (!isUuid(tenant.id)) throw new TenantryError('VALIDATION_FAILED', 'tenant.id must be a UUID to derive its role name')
  return `${prefix}_${tenant.id.replaceAll('-', '').toLowerCase()}`
}

/** Where a tenant's database is: its placement's server and database, or the derived name. */
export function databaseKeyOf(tenant: ScopedTenant): DatabaseKey {
  const database = tenant.placement?.database ?? tenantDatabaseName(tenant)
  const server = tenant.placement?.server
  return server === undefined ? { database } : { server, database }
}

