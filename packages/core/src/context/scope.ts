import type { IsolationModelName, TenantPlacement, TenantStatus } from '../tenant/model.ts'

/**
 * What the tenant context needs to know of a tenant. A catalog `Tenant` fits;
 * so does a hand-made `{ id, slug, status: 'active' }` in a test.
 */
export interface ScopedTenant {
  readonly id: string
  readonly slug: string
  readonly status: TenantStatus
  readonly plan?: string
  readonly isolation?: IsolationModelName
  readonly placement?: TenantPlacement
}

/** Work done for one tenant. */
export interface TenantScope {
  readonly kind: 'tenant'
  readonly tenant: ScopedTenant
}

/** Audited cross-tenant work (admin, analytics, migrations). */
export interface SystemScope {
  readonly kind: 'system'
  readonly reason: string
  readonly actor: string | undefined
  /** The tenant scope the system scope was entered from, if any. */
  readonly enteredFrom: ScopedTenant | undefined
}

export type Scope = TenantScope | SystemScope
