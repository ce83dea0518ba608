/**
 * The queries of a TenantData, as its query observer sees them (metrics,
 * traces): one helper every path calls (the Kysely driver, the scoped pool and
 * its clients, `withClient`).
 */
import { endQueryObservation, startQueryObservation, type QueryObservation, type Scope, type ScopedTenant } from '@tenantry/core'
import type { DriverStats } from './tenant-driver.ts'

/**
 * Runs `run`, observed when the stats carry a query observer and the scope is
 * a tenant's; the observation ends once, failed when `run` rejects.
 *
 * @example
 * const result = stats?.observer === undefined ? await run() : await observedQuery(stats, scope, run)
 */
export function observedQuery<T>(stats: DriverStats, scope: Scope | undefined, run: () => Promise<T>): Promise<T> {
  const observer = stats.observer
  if (observer === undefined || scope?.kind !== 'tenant') return run()
  // An observer's failure never changes the query's outcome: it runs unobserved (an async start, a promise, is skipped too).
  const observation = startQueryObservation(observer, scope.tenant)
  if (observation === undefined) return run()
  // Not an async function: an observed query costs a timing and one outcome, no extra await.
  const ended = new QueryEnd(observation, scope.tenant)
  let running: Promise<T>
  try {
    running = run()
  } catch (error) {
    ended.failed()
    return Promise.reject(error)
  }
  return running.then(
    (result) => {
      ended.ok()
      return result
    },
    (error: unknown) => {
      ended.failed()
      throw error
    },
  )
}

/** Ends one observation with the query's duration; an observer that throws is ignored. */
class QueryEnd {
  readonly #observation: QueryObservation
  readonly #tenant: ScopedTenant
  readonly #start = performance.now()

  constructor(observation: QueryObservation, tenant: ScopedTenant) {
    this.#observation = observation
    this.#tenant = tenant
  }

  ok(): void {
    this.#end(false)
  }

  failed(): void {
    this.#end(true)
  }

  #end(failed: boolean): void {
    endQueryObservation(this.#observation, { tenant: this.#tenant, durationMs: performance.now() - this.#start, failed })
  }
}
