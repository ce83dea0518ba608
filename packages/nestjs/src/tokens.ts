/** What TenantryModule provides, by injection token, and the decorators that inject it. */
import { Inject } from '@nestjs/common'

/**
 * The Tenantry object given to `TenantryModule` (what `createTenantry()`
 * returned, or your `{ http, db?, pool? }`).
 *
 * @example
 * constructor(@Inject(TENANTRY) private readonly tenantry: Tenantry) {}
 */
export const TENANTRY = 'TENANTRY'

/**
 * The scoped Kysely instance (`tenantry.db`): each query runs for the tenant of
 * the request, walled in by its isolation model.
 *
 * @example
 * constructor(@Inject(TENANTRY_DB) private readonly db: Kysely<Database>) {}
 */
export const TENANTRY_DB = 'TENANTRY_DB'

/**
 * The tenant-scoped `pg.Pool` (`tenantry.pool`), for raw SQL and ORMs built on
 * node-postgres. Only the database walls (RLS, search_path and role, the router)
 * guard what it sends.
 *
 * @example
 * constructor(@Inject(TENANTRY_POOL) private readonly pool: TenantPool) {}
 */
export const TENANTRY_POOL = 'TENANTRY_POOL'

/** The checked options of the module (internal: read by the module and its filter). */
export const TENANTRY_SETTINGS = 'TENANTRY_SETTINGS'

/**
 * Injects the Tenantry object (`TENANTRY`).
 *
 * @example
 * class TenantsService {
 *   constructor(@InjectTenantry() private readonly tenantry: Tenantry) {}
 * }
 */
export function InjectTenantry(): PropertyDecorator & ParameterDecorator {
  return Inject(TENANTRY)
}

/**
 * Injects the scoped Kysely instance (`TENANTRY_DB`).
 *
 * @example
 * class ProjectsService {
 *   constructor(@InjectTenantDb() private readonly db: Kysely<Database>) {}
 *   list() { return this.db.selectFrom('projects').selectAll().execute() }   // this tenant's rows
 * }
 */
export function InjectTenantDb(): PropertyDecorator & ParameterDecorator {
  return Inject(TENANTRY_DB)
}

/**
 * Injects the tenant-scoped `pg.Pool` (`TENANTRY_POOL`).
 *
 * @example
 * class ReportsService {
 *   constructor(@InjectTenantPool() private readonly pool: TenantPool) {}
 *   count() { return this.pool.query('select count(*) from projects') }   // RLS / search_path / router decide the rows
 * }
 */
export function InjectTenantPool(): PropertyDecorator & ParameterDecorator {
  return Inject(TENANTRY_POOL)
}
