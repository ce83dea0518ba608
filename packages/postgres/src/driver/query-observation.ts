/**
 * The queries of a TenantData, as its query observer sees them (metrics,
 * traces): one helper every path calls (the Kysely driver, the scoped pool and
 * its clients, `withClient`). An observation is its observation object and a
 * start time, kept as the caller's locals: nothing is allocated for it until
 * the query ends (the outcome the observers are given).
 */
import { performance } from 'node:perf_hooks'
import { endQueryObservation, startQueryObservation, type QueryObservation, type Scope, type TenantScope } from '@tenantry/core'
import type { DriverStats } from './tenant-driver.ts'

/**
 * Starts observing a query: undefined (nothing allocated) without a query
 * observer, outside a tenant scope, or when the observer skips it or throws
 * (the query then runs unobserved). Read the clock after it (the observer's
 * own work is not the query's time) and end it with `endObservedQuery`.
 *
 * @example
 * const observation = startObservedQuery(stats, scope)
 * const started = observation === undefined ? 0 : performance.now()
 * let failed = false
 * try { return await send() } catch (error) { failed = true; throw error } finally { if (observation) endObservedQuery(observation, scope as TenantScope, started, failed) }
 */
export function startObservedQuery(stats: DriverStats | undefined, scope: Scope | undefined): QueryObservation | undefined {
  const observer = stats?.observer
  if (observer === undefined || scope?.kind !== 'tenant') return undefined
  return startQueryObservation(observer, scope.tenant)
}

/** Ends a query's observation with its duration since `started` (`performance.now()`); an observer that throws is ignored. */
export function endObservedQuery(observation: QueryObservation, scope: TenantScope, started: number, failed: boolean): void {
  // A fresh object for each query: several observers get copies of it (combineQueryObservers), so one
  // cannot rewrite what the next one counts; one observer alone may do what it likes with it.
  endQueryObservation(observation, { tenant: scope.tenant, durationMs: performance.now() - started, failed })
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
  const observation = startObservedQuery(stats, scope)
  if (observation === undefined) return run()
  const started = performance.now()
  let failed = false
  try {
    return await run()
  } catch (error) {
    failed = true
    throw error
  } finally {
    endObservedQuery(observation, scope as TenantScope, started, failed)
  }
}
