/**
 * @tenantry/fastify: the tenant resolution plugin and the error mapping for Fastify 5.
 * See docs/fastify.md.
 */
export { tenantryFastify, type TenantryFastifyOptions } from './plugin.ts'
export { tenantryErrorHandler, tenantryNotFoundHandler } from './error-handler.ts'
