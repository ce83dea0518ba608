import { TenantryError, assertServing, type Scope } from '@tenantry/core'
import type { ScopeBinding, ScopeSetting } from '../../driver/scope-binding.ts'
import type { ResolvedSharedSchemaOptions } from './options.ts'

/**
 * The shared model's transaction settings: with RLS up, a tenant transaction
 * switches to the runtime role and carries the tenant id; both are
 * transaction-local, so a transaction pooler can hand the connection on safely.
 * A system scope runs as the connecting role with no tenant setting.
 */
export function sharedSchemaBinding(options: ResolvedSharedSchemaOptions): ScopeBinding {
  const tenantSettings = (tenantId: string): ScopeSetting[] => {
    const settings: ScopeSetting[] = []
    if (options.runtimeRole !== null) settings.push({ name: 'role', value: options.runtimeRole })
    settings.push({ name: options.tenantSetting, value: tenantId })
    return settings
  }
  return {
    settingsFor(scope: Scope | undefined): readonly ScopeSetting[] {
      if (scope === undefined) {
        throw new TenantryError('TENANT_CONTEXT_MISSING', 'No tenant in context: run tenant queries inside runWithTenant(tenant, fn), or runAsSystem(reason, fn) for audited cross-tenant work')
      }
      if (scope.kind === 'system') return []
      assertServing(scope.tenant)
      return options.walls.rls ? tenantSettings(scope.tenant.id) : []
    },
  }
}
