/**
 * The queries of a TenantData, as its query observer sees them (metrics,
 * traces): one helper every path calls (the Kysely driver, the scoped pool and
 * its clients, `withClient`).
 */
import { endQueryObservation, startQueryObservation, type QueryObservation, type Scope, type ScopedTenant } from '@tenantry/core'
import type { DriverStats } from './tenant-driver.ts'

/** A query being observed: started just before it is sent, ended once when it is answered. */
export interface ObservedQuery {
  readonly observation: QueryObservation
  readonly tenant: ScopedTenant
  readonly started: number
}

/**
 * Starts observing a query: undefined (nothing allocated) without a query
 * observer, outside a tenant scope, or when the observer skips it or throws
 * (the query then runs unobserved). End it with `endObservedQuery`.
 *
 * @example
 * const observed = startObservedQuery(stats, currentScope())
 * let failed = false
 * try { return await send() } catch (error) { failed = true; throw error } finally { if (observed) endObservedQuery(observed, failed) }
 */
export function startObservedQuery(stats: DriverStats | undefined, scope: Scope | undefined): ObservedQuery | undefined {
  const observer = stats?.observer
  if (observer === undefined || scope?.kind !== 'tenant') return undefined
  const observation = startQueryObservation(observer, scope.tenant)
  return observation === undefined ? undefined : { observation, tenant: scope.tenant, started: performance.now() }
}

/** Ends a query's observation with its duration; an observer that throws is ignored. */
export function endObservedQuery(observed: ObservedQuery, failed: boolean): void {
  endQueryObservation(observed.observation, { tenant: observed.tenant, durationMs: performance.now() - observed.started, failed })
}

/**
 * Runs `run`, observed when the stats carry a query observer and the scope is
 * a tenant's; the observation ends once, failed when `run` rejects. (An async
 * caller can end it in its own `finally` instead: `startObservedQuery`.)
 *
 * @example
 * const result = stats?.observer === undefined ? await run() : await observedQuery(stats, scope, run)
 */
export async function observedQuery<T>(stats: DriverStats, scope: Scope | undefined, run: () => Promise<T>): Promise<T> {
  const observed = startObservedQuery(stats, scope)
  if (observed === undefined) return run()
  let failed = false
  try {
    return await run()
  } catch (error) {
    failed = true
    throw error
  } finally {
    endObservedQuery(observed, failed)
  }
}
