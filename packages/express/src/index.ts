/**
 * @tenantry/express: the tenant resolution middleware and the error mapping for Express 4/5.
 * See docs/express.md.
 */
export { tenantryExpress, type TenantryExpressOptions } from './middleware.ts'
export {
  tenantryExpressErrorHandler,
  tenantryExpressNotFoundHandler,
  type TenantryExpressErrorHandlerOptions,
} from './error-handler.ts'
