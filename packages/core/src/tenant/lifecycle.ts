import { TenantryError } from '../errors/index.ts'
import type { TenantStatus } from './model.ts'

const transitions: Readonly<Record<TenantStatus, readonly TenantStatus[]>> = {
  provisioning: ['active', 'offboarding'],
  active: ['suspended', 'offboarding'],
  suspended: ['active', 'offboarding'],
  offboarding: ['deleted'],
  deleted: [],
}

/** The statuses a tenant may move to from `from`. */
export function nextStatuses(from: TenantStatus): readonly TenantStatus[] {
  return transitions[from]
}

/** True when the lifecycle allows `from -> to`. */
export function canTransition(from: TenantStatus, to: TenantStatus): boolean {
  return transitions[from].includes(to)
}

/** Throws CONFLICT when the lifecycle does not allow `from -> to`. */
export function assertTransition(from: TenantStatus, to: TenantStatus): void {
  if (!canTransition(from, to)) {
    const allowed = transitions[from]
    throw new TenantryError(
      'CONFLICT',
      `A tenant cannot go from "${from}" to "${to}"; from "${from}" it may go to ${allowed.length ? allowed.map((s) => `"${s}"`).join(', ') : 'nothing (final state)'}`,
      { details: [{ path: 'status', message: `${from} -> ${to} is not allowed` }] },
    )
  }
}

/** Throws TENANT_SUSPENDED unless the tenant may serve traffic (status `active`). */
export function assertServing(tenant: { readonly slug: string; readonly status: TenantStatus }): void {
  if (tenant.status !== 'active') {
    throw new TenantryError('TENANT_SUSPENDED', `Tenant "${tenant.slug}" is ${tenant.status} and cannot serve requests; resume it first`)
  }
}
