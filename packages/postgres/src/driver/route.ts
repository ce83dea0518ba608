import { TenantryError, type Scope } from '@tenantry/core'
import type pg from 'pg'
import { holdClient, type TransactionStatus } from './held-client.ts'
import type { ScopeBinding } from './scope-binding.ts'

/** A connection checked out for one scope, and the settings each transaction on it needs. */
export interface RoutedConnection {
  readonly client: pg.ClientBase
  readonly binding: ScopeBinding
  /** Gives the connection back; `destroy` closes it instead (after a failed rollback or reset). */
  release(destroy: boolean): void
  /** Called when the database refused the scope token (its key may have been retired): re-read the key. */
  scopeRefused?(): void
  /** The server's transaction status after the last exchange on this connection. */
  transactionStatus(): TransactionStatus | undefined
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
export function databaseRoute(options: {
  owner: pg.Pool
  runtime: () => Promise<pg.Pool>
  binding: ScopeBinding
  scopeRefused?: () => void
  /** The runtime pool logs in as a role Tenantry manages: refuse a login that brings session defaults. */
  checkLoginDefaults?: boolean
}): ConnectionRoute {
  const { owner, runtime, binding, scopeRefused, checkLoginDefaults = false } = options
  return {
    async acquire(scope) {
      const tenant = scope?.kind === 'tenant'
      const pool = tenant ? await runtime() : owner
      binding.settingsFor(scope)
      const held = tenant && checkLoginDefaults ? await freshRuntimeClient(pool) : holdClient(await pool.connect())
      const routed: RoutedConnection = {
        client: held.client,
        binding,
        release: (destroy) => held.release(destroy),
        transactionStatus: () => held.transactionStatus(),
      }
      return scopeRefused === undefined ? routed : { ...routed, scopeRefused }
    },
  }
}

const inspected = new WeakSet<object>()

/**
 * A runtime connection whose login brought no session defaults of its own. A
 * tenant's SQL may run `ALTER ROLE current_user SET …` (any role may set its own
 * defaults): every later login of that role would start with them (another
 * tenant's time zone, a read-only default, a statement timeout), and `reset all`
 * goes back to them. So the first checkout of each connection looks: if the
 * login role has defaults, they are removed and the connection is closed, and
 * another is taken.
 */
async function freshRuntimeClient(pool: pg.Pool): Promise<ReturnType<typeof holdClient>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const held = holdClient(await pool.connect())
    if (inspected.has(held.client)) return held
    try {
      const row = (await held.client.query<{ dirty: boolean }>(
        `select exists (select 1 from pg_catalog.pg_db_role_setting s
                         where s.setrole operator(pg_catalog.=) (select r.oid from pg_catalog.pg_roles r where r.rolname operator(pg_catalog.=) session_user)) as dirty`,
      )).rows[0]
      if (row?.dirty !== true) {
        inspected.add(held.client)
        return held
      }
      await held.client.query('begin read write; alter role session_user reset all; commit')
    } catch (error) {
      held.release(true)
      throw error
    }
    held.release(true)
  }
  throw new TenantryError('ISOLATION_MISCONFIGURED', 'The runtime login keeps getting session defaults (ALTER ROLE … SET) that Tenantry removes; see docs/security.md')
}
