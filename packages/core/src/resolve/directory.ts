import type { Tenant } from '../tenant/model.ts'

/**
 * Where resolution looks tenants up. `TenantCatalog` from `@tenantry/postgres`
 * fits as is; wrap it in `CachedTenantDirectory` for production. Deleted tenants
 * must come back as `undefined` (a `deleted` status is treated the same).
 *
 * @example
 * const directory: TenantDirectory = new CachedTenantDirectory(catalog)
 */
export interface TenantDirectory<T extends Tenant = Tenant> {
  getBySlug(slug: string): Promise<T | undefined>
  getById(id: string): Promise<T | undefined>
  getByDomain(domain: string): Promise<T | undefined>
}
