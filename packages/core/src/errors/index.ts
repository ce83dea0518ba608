export { errorCatalogue, httpStatusOf, type TenantryErrorCode } from './catalogue.ts'
export {
  TenantryError,
  isTenantryError,
  validationError,
  type TenantryErrorOptions,
  type ValidationIssue,
} from './tenantry-error.ts'
