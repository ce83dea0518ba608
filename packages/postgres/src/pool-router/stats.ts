import type { DatabasePool } from './database-pool.ts'

/**
 * One database's share of the router's connections.
 *
 * @example
 * const busiest = [...router.stats().databases].sort((a, b) => b.checkedOut - a.checkedOut)[0]
 */
export interface DatabaseStats {
  readonly server: string
  readonly database: string
  /** The role its connections log in as; absent for the server's own login. */
  readonly login?: string
  /** Connections holding a permit: opening, idle, checked out or closing. */
  readonly openConnections: number
  readonly checkedOut: number
  readonly idle: number
  readonly opening: number
  readonly closing: number
  readonly waiters: number
}

/**
 * A snapshot of a PoolRouter, for tests, metrics and benchmarks.
 *
 * @example
 * const { openConnections, budget, waiters } = router.stats()
 * metrics.gauge('db.connections', openConnections, { budget })
 */
export interface PoolRouterStats {
  readonly budget: number
  /** Connections holding a permit now (opening, idle, checked out or closing); never above `budget`. */
  readonly openConnections: number
  /** The most connections open at once since the router started. */
  readonly peakOpenConnections: number
  readonly checkedOut: number
  readonly idleConnections: number
  readonly openingConnections: number
  readonly closingConnections: number
  /** Acquires queued for a connection. */
  readonly waiters: number
  /** Databases with a pool now. */
  readonly poolsOpen: number
  /** Pools created (cold opens: first use, or use after the pool was closed). */
  readonly poolOpens: number
  /** Connections opened successfully. */
  readonly connectionOpens: number
  /** Connects that failed (missing database, server down). */
  readonly connectFailures: number
  /** Idle connections closed to give their permit to another database. */
  readonly reclaimed: number
  /** Acquires that gave up with CONNECTION_BUDGET_EXHAUSTED. */
  readonly timeouts: number
  /** Pools closed: all their connections idled out, evicted by LRU, or reclaimed for the budget. */
  readonly evictions: { readonly idle: number; readonly lru: number; readonly budget: number }
  readonly databases: readonly DatabaseStats[]
}

/** The router's running counters. */
export interface RouterCounters {
  poolOpens: number
  connectionOpens: number
  connectFailures: number
  reclaimed: number
  timeouts: number
  evictions: { idle: number; lru: number; budget: number }
}

export function newCounters(): RouterCounters {
  return { poolOpens: 0, connectionOpens: 0, connectFailures: 0, reclaimed: 0, timeouts: 0, evictions: { idle: 0, lru: 0, budget: 0 } }
}

/** Builds the snapshot from the pools and counters. */
export function snapshot(
  pools: Iterable<DatabasePool>,
  counters: RouterCounters,
  budget: { limit: number; used: number; peak: number },
  waiters: number,
): PoolRouterStats {
  const databases: DatabaseStats[] = []
  let checkedOut = 0
  let idle = 0
  let opening = 0
  let closing = 0
  for (const pool of pools) {
    checkedOut += pool.busy.size
    idle += pool.idle.length
    opening += pool.opening
    closing += pool.closing
    databases.push({
      server: pool.key.server,
      database: pool.key.database,
      ...(pool.key.login === undefined ? {} : { login: pool.key.login }),
      openConnections: pool.held,
      checkedOut: pool.busy.size,
      idle: pool.idle.length,
      opening: pool.opening,
      closing: pool.closing,
      waiters: pool.waiters,
    })
  }
  return {
    budget: budget.limit,
    openConnections: budget.used,
    peakOpenConnections: budget.peak,
    checkedOut,
    idleConnections: idle,
    openingConnections: opening,
    closingConnections: closing,
    waiters,
    poolsOpen: databases.length,
    poolOpens: counters.poolOpens,
    connectionOpens: counters.connectionOpens,
    connectFailures: counters.connectFailures,
    reclaimed: counters.reclaimed,
    timeouts: counters.timeouts,
    evictions: { ...counters.evictions },
    databases,
  }
}
