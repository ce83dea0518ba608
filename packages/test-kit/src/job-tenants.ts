/**
 * Tenants in memory for job tests: add them, change their status between
 * enqueue and run, and hand `source` to `new JobTenancy({ tenants })`.
 */
import { randomUUID } from 'node:crypto'
import type { ScopedTenant, TenantStatus } from '@tenantry/core'

export interface JobTenants {
  /** A new active shared tenant. */
  add(slug: string, plan?: string): ScopedTenant
  /** Changes a tenant's status as the catalog would. */
  set(tenant: ScopedTenant, status: TenantStatus): void
  /** Removes a tenant (as if never there). */
  remove(tenant: ScopedTenant): void
  all(): ScopedTenant[]
  /** How many times `source.getById` was called. */
  reads(): number
  readonly source: { getById(id: string): Promise<ScopedTenant | undefined> }
}

/**
 * @example
 * const tenants = jobTenants()
 * const acme = tenants.add('acme')
 * const jobs = new JobTenancy({ tenants: tenants.source })
 */
export function jobTenants(): JobTenants {
  const tenants = new Map<string, ScopedTenant>()
  let reads = 0
  return {
    add(slug, plan = 'free') {
      const t: ScopedTenant = { id: randomUUID(), slug, status: 'active', plan, isolation: 'shared' }
      tenants.set(t.id, t)
      return t
    },
    set(t, status) {
      tenants.set(t.id, { ...t, status })
    },
    remove(t) {
      tenants.delete(t.id)
    },
    all: () => [...tenants.values()],
    reads: () => reads,
    source: {
      getById: async (id) => {
        reads++
        return tenants.get(id)
      },
    },
  }
}
