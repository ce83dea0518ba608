import { validationError, type ValidationIssue } from '@tenantry/core'
import type { TenantDatabases } from './contract.ts'

/**
 * How a PoolRouter shares connections among tenant databases.
 *
 * @example
 * const options: PoolRouterOptions = {
 *   databases: serverDatabases({ default: { host: '10.0.0.5', user: 'app' } }),
 *   budget: 50,
 *   maxPerDatabase: 5,
 * }
 */
export interface PoolRouterOptions {
  /** Where the tenant databases are and how to connect to one. */
  readonly databases: TenantDatabases
  /** Most connections open at once across every database (opening and closing ones included). */
  readonly budget: number
  /** Most connections one database may hold. Default 10 (PGlite: always 1). */
  readonly maxPerDatabase?: number
  /**
   * A connection idle this long is closed, and a database whose last connection
   * closed is dropped from the router (for PGlite: its instance is closed).
   * Default 30 000 ms.
   */
  readonly idleTimeoutMs?: number
  /** How long an acquire may queue for a connection before CONNECTION_BUDGET_EXHAUSTED. Default 5 000 ms. */
  readonly acquireTimeoutMs?: number
  /**
   * Most databases kept open; beyond it the least recently used database with no
   * connection checked out is closed. Default: no cap beyond the budget.
   */
  readonly maxPools?: number
  /**
   * After a failed connect, acquires for that database (or, when the server
   * itself is down, for every database on it) fail at once for this long
   * instead of trying again. 0 turns it off. Default 1 000 ms.
   */
  readonly failureBackoffMs?: number
}

/** Options with their defaults filled in. */
export interface ResolvedPoolRouterOptions {
  readonly databases: TenantDatabases
  readonly budget: number
  readonly maxPerDatabase: number
  readonly idleTimeoutMs: number
  readonly acquireTimeoutMs: number
  readonly maxPools: number
  readonly failureBackoffMs: number
}

function positiveInteger(issues: ValidationIssue[], path: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(Number.isInteger(value) || value === Infinity) || value < 1) {
    issues.push({ path, message: 'must be a positive integer' })
    return fallback
  }
  return value
}

function duration(issues: ValidationIssue[], path: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  // Node's timers take at most 2^31 - 1 ms (and fire at once beyond it).
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 2_147_483_647) {
    issues.push({ path, message: 'must be a number of milliseconds from 0 to 2147483647' })
    return fallback
  }
  return value
}

/** Checks the options up front (misuse fails at start) and fills in the defaults. */
export function resolvePoolRouterOptions(options: PoolRouterOptions): ResolvedPoolRouterOptions {
  if (typeof options !== 'object' || options === null) throw validationError([{ path: 'options', message: 'must be an object' }])
  const issues: ValidationIssue[] = []
  const databases = options.databases
  if (typeof databases?.connect !== 'function') {
    issues.push({ path: 'databases', message: 'must implement TenantDatabases (e.g. serverDatabases() or pgliteDatabases())' })
  }
  const budget = options.budget
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1) {
    issues.push({ path: 'budget', message: 'must be a positive integer (the most connections open at once)' })
  }
  const resolved: ResolvedPoolRouterOptions = {
    databases,
    budget: budget as number,
    maxPerDatabase: Math.min(
      positiveInteger(issues, 'maxPerDatabase', options.maxPerDatabase, 10),
      positiveInteger(issues, 'databases.maxConnectionsPerDatabase', databases?.maxConnectionsPerDatabase, Infinity),
    ),
    idleTimeoutMs: duration(issues, 'idleTimeoutMs', options.idleTimeoutMs, 30_000),
    acquireTimeoutMs: duration(issues, 'acquireTimeoutMs', options.acquireTimeoutMs, 5_000),
    maxPools: positiveInteger(issues, 'maxPools', options.maxPools, Infinity),
    failureBackoffMs: duration(issues, 'failureBackoffMs', options.failureBackoffMs, 1_000),
  }
  if (issues.length > 0) throw validationError(issues.map((i) => ({ path: `options.${i.path}`, message: i.message })))
  return resolved
}
