import { TenantryError } from '@tenantry/core'

/** Stops a query shape the tenant scope cannot make safe. */
export function refuseQuery(reason: string): never {
  throw new TenantryError('QUERY_REFUSED', `Tenantry refused this query in a tenant scope: ${reason}`)
}
