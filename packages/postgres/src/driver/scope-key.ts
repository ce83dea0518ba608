import { TenantryError, type Scope } from '@tenantry/core'

/** What a connection is pinned to: one tenant's id, the system scope, or no scope. */
export type ScopeKey = string

const SYSTEM = '@system'
const NONE = '@none'

/** The key of a scope: a tenant's id, or a marker for the system scope and for no scope. */
export function scopeKeyOf(scope: Scope | undefined): ScopeKey {
  if (scope === undefined) return NONE
  return scope.kind === 'tenant' ? scope.tenant.id : SYSTEM
}

function describe(scope: Scope | undefined): string {
  if (scope === undefined) return 'no scope'
  return scope.kind === 'tenant' ? `tenant "${scope.tenant.slug}"` : 'the system scope'
}

/** SCOPE_MISMATCH for a connection used in another scope than the one it was checked out for. */
export function scopeMismatch(acquiredFor: Scope | undefined, now: Scope | undefined): TenantryError {
  return new TenantryError(
    'SCOPE_MISMATCH',
    `This connection was checked out for ${describe(acquiredFor)} and cannot run for ${describe(now)}; a connection or transaction serves exactly one scope, so open a new one inside this scope`,
  )
}
