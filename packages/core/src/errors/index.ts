export { errorCatalogue, httpStatusOf, type ErrorEntry, type ErrorExposure, type TenantryErrorCode } from './catalogue.ts'
export {
  TenantryError,
  isTenantryError,
  validationError,
  type TenantryErrorOptions,
  type ValidationIssue,
} from './tenantry-error.ts'
export { httpErrorResponse, routeNotFound, type HttpErrorResponse } from './http.ts'
export { prepareRefusal, preparedRefusalOf, type PreparedRefusal } from './refusal.ts'
