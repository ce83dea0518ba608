/**
 * @tenantry/nestjs: TenantryModule for NestJS on Express and Fastify: the tenant
 * of every request (resolution, API key, admission, scope), `@CurrentTenant()`,
 * the scoped Kysely and pg pool as providers, errors in the catalogue's shape.
 * See docs/nestjs.md.
 */
export { TenantryModule, type TenantryModuleAsyncOptions, type TenantryModuleRootOptions } from './tenantry-module.ts'
export type { TenantryModuleBehaviour, TenantryModuleOptions, TenantrySource } from './options.ts'
export { CurrentTenant } from './current-tenant.ts'
export { TenantryExceptionFilter, type TenantryExceptionFilterOptions } from './exception-filter.ts'
export { InjectTenantDb, InjectTenantPool, InjectTenantry, TENANTRY, TENANTRY_DB, TENANTRY_POOL } from './tokens.ts'
