/**
 * The queries of a TenantData, as its query observer sees them (metrics,
 * traces): one helper every path calls (the Kysely driver, the scoped pool and
 * its clients, `withClient`).
 */
import type { Scope } from '@tenantry/core'
import type { DriverStats } from './tenant-driver.ts'

/**
 * Runs `run`, observed when the stats carry a query observer and the scope is
 * a tenant's; the observation ends once, failed when `run` rejects.
 *
 * @example
 * const result = stats?.observer === undefined ? await run() : await observedQuery(stats, scope, run)
 */
export async function observedQuery<T>(stats: DriverStats, scope: Scope | undefined, run: () => Promise<T>): Promise<T> {
  const observation = scope?.kind === 'tenant' ? stats.observer?.start(scope.tenant) : undefined
  if (observation === undefined) return run()
  let result: T
  try {
    result = await run()
  } catch (error) {
    try {
      observation.end(true)
    } catch {
      // An observer's failure never changes the query's outcome.
    }
    throw error
  }
  try {
    observation.end(false)
  } catch {
    // As above.
  }
  return result
}
