import type { Scope } from '@tenantry/core'
import type pg from 'pg'
import type { ScopeBinding } from './scope-binding.ts'

/** A connection checked out for one scope, and the settings each transaction on it needs. */
export interface RoutedConnection {
  readonly client: pg.ClientBase
  readonly binding: ScopeBinding
  /** Gives the connection back; `destroy` closes it instead (after a failed rollback). */
  release(destroy: boolean): void
}

/**
 * Where a query of the current scope runs: which pool (a shared one, or the tenant's
 * own database) and with which transaction settings. Called inside the caller's
 * async context, so it can read the scope.
 */
export interface ConnectionRoute {
  acquire(scope: Scope | undefined): Promise<RoutedConnection>
}

/** Every scope on one pool with one binding (the shared and schema models). */
export function poolRoute(pool: pg.Pool, binding: ScopeBinding): ConnectionRoute {
  return {
    // The scope is checked by the binding at the query (and the plugin refuses a
    // query with no scope before it reaches the driver), so it is not checked twice.
    async acquire() {
      const client = await pool.connect()
      return { client, binding, release: (destroy) => client.release(destroy) }
    },
  }
}
