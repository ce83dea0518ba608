import type { Scope } from '@tenantry/core'
import type pg from 'pg'
import type { ScopeBinding } from './scope-binding.ts'

/** A connection checked out for one scope, and the settings each transaction on it needs. */
export interface RoutedConnection {
  readonly client: pg.ClientBase
  readonly binding: ScopeBinding
  /** Gives the connection back; `destroy` closes it instead (after a failed rollback or reset). */
  release(destroy: boolean): void
  /** Called when the database refused the scope token (its key may have been retired): re-read the key. */
  scopeRefused?(): void
}

/**
 * Where a query of the current scope runs: which pool (the runtime role's, the
 * owner's, or the tenant's own database) and with which transaction settings.
 * Called inside the caller's async context, so it can read the scope.
 */
export interface ConnectionRoute {
  acquire(scope: Scope | undefined): Promise<RoutedConnection>
}

/**
 * The route of a model on one database (shared and schema): tenant scopes on the
 * runtime pool, once `runtime()` has it ready (the login pool opened, the scope
 * signer loaded), the system scope on the owner's pool. The binding is asked
 * before a connection is taken, so a query with no scope or for a suspended
 * tenant never holds one.
 *
 * @example
 * const route = databaseRoute({ owner: target.pool, runtime: () => runtime.pool(), binding })
 */
export function databaseRoute(options: { owner: pg.Pool; runtime: () => Promise<pg.Pool>; binding: ScopeBinding; scopeRefused?: () => void }): ConnectionRoute {
  const { owner, runtime, binding, scopeRefused } = options
  return {
    async acquire(scope) {
      const pool = scope?.kind === 'tenant' ? await runtime() : owner
      binding.settingsFor(scope)
      const client = await pool.connect()
      return scopeRefused === undefined
        ? { client, binding, release: (destroy) => client.release(destroy) }
        : { client, binding, release: (destroy) => client.release(destroy), scopeRefused }
    },
  }
}
