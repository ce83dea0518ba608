/** Where a tenant's rows live. The same application code runs in each. */
export type IsolationModelName = 'shared' | 'schema' | 'database'

export const isolationModels: readonly IsolationModelName[] = ['shared', 'schema', 'database']

/** Lifecycle: provisioning -> active <-> suspended -> offboarding -> deleted. */
export type TenantStatus = 'provisioning' | 'active' | 'suspended' | 'offboarding' | 'deleted'

export const tenantStatuses: readonly TenantStatus[] = ['provisioning', 'active', 'suspended', 'offboarding', 'deleted']

/** Which server, schema or database holds a tenant's data. */
export interface TenantPlacement {
  /** Name of a configured PostgreSQL server; absent = the default server. */
  readonly server?: string
  /** Schema name (schema model). */
  readonly schema?: string
  /** Database name (database model). */
  readonly database?: string
}

/** A tenant as the catalog stores it and as the tenant context carries it. */
export interface Tenant {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly status: TenantStatus
  readonly plan: string
  readonly isolation: IsolationModelName
  readonly placement: TenantPlacement
  readonly settings: Readonly<Record<string, unknown>>
  readonly createdAt: Date
  readonly updatedAt: Date
}
