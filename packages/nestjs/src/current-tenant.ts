/** `@CurrentTenant()`: the tenant of the request as a handler parameter. */
import { createParamDecorator } from '@nestjs/common'
import { currentTenant, type Tenant } from '@tenantry/core'

function currentTenantParam(property: keyof Tenant | undefined): unknown {
  // The scope's tenant: the one every query of this request runs for.
  const tenant = currentTenant() as Tenant
  return property === undefined ? tenant : tenant[property]
}

/**
 * A handler parameter holding the request's tenant: the scope's own deep-frozen
 * copy, the one `currentTenant()` returns and every query runs for. With a
 * property name, that property (`@CurrentTenant('slug')`). On a route with no
 * tenant (under `exclude`) it throws TENANT_CONTEXT_MISSING, which answers
 * 500 INTERNAL: such a handler should call `tryCurrentTenant()` instead.
 *
 * @example
 * class MeController {
 *   me(@CurrentTenant() tenant: Tenant) { return { slug: tenant.slug, plan: tenant.plan } }
 *   slug(@CurrentTenant('slug') slug: string) { return { slug } }
 * }
 */
export const CurrentTenant: (property?: keyof Tenant) => ParameterDecorator = createParamDecorator(currentTenantParam)
