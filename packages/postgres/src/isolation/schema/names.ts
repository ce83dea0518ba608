import { TenantryError, isUuid, type ScopedTenant } from '@tenantry/core'

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * The schema a tenant gets: `tenant_` and its id without dashes. Derived from the
 * id, not the slug, so a slug freed by a deleted tenant can never reach the old
 * tenant's schema, and a name is always a valid identifier (39 characters).
 */
export function tenantSchemaName(tenant: Pick<ScopedTenant, 'id'>): string {
  if (!isUuid(tenant.id)) throw new TenantryError('VALIDATION_FAILED', 'tenant.id must be a UUID to derive a schema name')
  return `tenant_${tenant.id.replaceAll('-', '').toLowerCase()}`
}

/** The schema a tenant is placed in: its placement's, or the derived name. */
export function schemaOf(tenant: ScopedTenant): string {
  const schema = tenant.placement?.schema ?? tenantSchemaName(tenant)
  if (!SCHEMA_NAME.test(schema)) throw new TenantryError('ISOLATION_MISCONFIGURED', `The stored schema name "${schema}" of tenant "${tenant.slug}" is not a plain identifier; fix the tenant's placement in the catalog`)
  return schema
}

