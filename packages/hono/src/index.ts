/**
 * @tenantry/hono: the tenant resolution middleware and the error mapping for Hono 4.
 * See docs/hono.md.
 */
export { tenantryHono, type TenantryHonoEnv, type TenantryHonoOptions, type TenantryHonoVariables } from './middleware.ts'
export { setTenantryHonoLogger, tenantryHonoErrorHandler, tenantryHonoNotFoundHandler } from './error-handler.ts'
