/**
 * The tenant catalog (control plane): schema `tenantry` with tenants, domains,
 * API keys and the audit log, on PostgreSQL or PGlite.
 *
 * @example
 * import { TenantCatalog } from '@tenantry/postgres'
 * const catalog = new TenantCatalog({ target })
 * await catalog.install()
 * const acme = await catalog.create({ slug: 'acme', name: 'Acme' })
 */
export { TenantCatalog } from './tenant-catalog.ts'
export type { CatalogChangeListener } from './changes.ts'
export type { CreateApiKeyOptions, CreateTenantOptions, TenantCatalogOptions } from './catalog-options.ts'
export type { CatalogInstallResult } from './schema.ts'
export { apiKeyPrefix, type CreatedApiKey, type VerifiedApiKey } from './api-keys.ts'
export type { AuditEntry, AuditQuery, CatalogAuditAction } from './audit.ts'
export type { Attribution } from './arguments.ts'
export type { ApiKeyInfo, AuditRecord, TenantRecord } from './rows.ts'
export type { TenantListQuery, TenantPage } from './tenants.ts'
export { TenantSearch, tenantSearchSorts, type TenantFilter, type TenantKey, type TenantSearchPage, type TenantSearchQuery, type TenantSearchSort } from './tenant-search.ts'
