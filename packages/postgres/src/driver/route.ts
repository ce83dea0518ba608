import { TenantryError, type Scope } from '@tenantry/core'
import type pg from 'pg'
import { holdClient, type HeldClient, type TransactionStatus } from './held-client.ts'
import {
  databaseDefaultsRefused, isLoginSettingFailure, loginDefaultsOf, managedLoginOf, resetRoleDefaults, warnDefaultsRemoved, type LoginDefaults,
} from '../walls/login-defaults.ts'
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
  /** The runtime pool: the pool itself once it is ready (no promise to wait on per query), or a promise of it. */
  runtime: () => pg.Pool | Promise<pg.Pool>
  binding: ScopeBinding
  scopeRefused?: () => void
  /** The runtime pool logs in as a role Tenantry manages: refuse a login that brings session defaults. */
  checkLoginDefaults?: boolean
}): ConnectionRoute {
  const { owner, runtime, binding, scopeRefused, checkLoginDefaults = false } = options
  return {
    async acquire(scope) {
      const tenant = scope?.kind === 'tenant'
      let pool = owner
      if (tenant) {
        const ready = runtime()
        pool = ready instanceof Promise ? await ready : ready
      }
      binding.settingsFor(scope)
      const held = tenant && checkLoginDefaults ? await runtimeClient(pool) : holdClient(await pool.connect())
      return {
        client: held.client,
        binding,
        release: (destroy) => held.release(destroy),
        transactionStatus: () => held.transactionStatus(),
        scopeRefused,
      }
    },
  }
}

const inspected = new WeakSet<object>()

/**
 * A runtime connection whose login brought no session defaults of its own.
 * Any role may give itself defaults (`ALTER ROLE current_user SET …`), so a
 * tenant's SQL can: every later login of the shared runtime role would start
 * with them (another tenant's time zone, a read-only default, a role to switch
 * to), and `reset all` goes back to them; one that cannot be loaded
 * (`local_preload_libraries`) fails every later login (SQLSTATE 58P01).
 *
 * So the first checkout of each physical connection (never again: defaults
 * only apply at login) reads what the connection itself started with
 * (pg_settings, its user, the scope setting) and what the catalog holds for
 * its role. Role defaults are removed as the owner (`resetRoleDefaults`, or by
 * the login itself for a pool Tenantry did not open), the connection is closed
 * and another taken; database defaults that change who the session is or what
 * the policies see are refused (ISOLATION_MISCONFIGURED), since they are the
 * database owner's. A login refused because of a default is healed the same
 * way and tried again, once. Each heal emits a TenantryRuntimeLoginWarning.
 */
async function runtimeClient(pool: pg.Pool): Promise<HeldClient> {
  // The common case, a connection already inspected, without the loop below.
  let first: pg.PoolClient | Error
  try {
    first = await pool.connect()
  } catch (error) {
    first = error as Error
  }
  if (!(first instanceof Error) && inspected.has(first)) return holdClient(first)
  return freshRuntimeClient(pool, first)
}

/** `first`: the client (or the login error) of a first pool.connect() already made. */
async function freshRuntimeClient(pool: pg.Pool, first: pg.PoolClient | Error): Promise<HeldClient> {
  const login = managedLoginOf(pool)
  let healed = false
  /** Removes the role's defaults: as the owner, or else as the login itself on `client`. */
  const heal = async (what: string, client?: pg.ClientBase): Promise<void> => {
    healed = true
    try {
      if (login === undefined) throw new TenantryError('INTERNAL', 'no owner login is known for this pool')
      await login.resetDefaults()
    } catch (error) {
      if (client === undefined) throw error
      const user = (await client.query<{ u: string }>('select session_user::pg_catalog.text as u')).rows[0]?.u ?? ''
      await client.query('begin read write')
      await resetRoleDefaults(client, user)
      await client.query('commit')
    }
    warnDefaultsRemoved(login?.user, what)
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    let client: pg.PoolClient
    try {
      if (attempt > 0) client = await pool.connect()
      else if (first instanceof Error) throw first
      else client = first
    } catch (error) {
      if (!isLoginSettingFailure(error)) throw error
      if (healed || login === undefined) throw loginDefaultFailed(login?.user, error)
      await heal(`its login failed: ${(error as Error).message}`).catch((failure: unknown) => {
        throw loginDefaultFailed(login.user, error, failure)
      })
      continue
    }
    const held = holdClient(client)
    if (inspected.has(client)) return held
    let found: LoginDefaults
    try {
      found = await loginDefaultsOf(client, login?.user)
    } catch (error) {
      // A default can make the look itself fail (a one-millisecond statement_timeout).
      held.release(true)
      if (healed || login === undefined) throw error
      await heal(`a first query on a new connection failed: ${(error as Error).message}`)
      continue
    }
    if (found.database.length > 0) {
      held.release(true)
      throw databaseDefaultsRefused(found.database)
    }
    if (found.role.length === 0) {
      inspected.add(client)
      return held
    }
    try {
      await heal(found.role.join(', '), client)
    } finally {
      held.release(true)
    }
  }
  throw new TenantryError('ISOLATION_MISCONFIGURED', 'The runtime login keeps getting session defaults (ALTER ROLE … SET) that Tenantry removes; find who sets them (see docs/security.md, "The signed tenant scope and the runtime role")')
}

/** ISOLATION_MISCONFIGURED for a login that a session default of its role makes fail, and that could not be healed. */
function loginDefaultFailed(login: string | undefined, error: unknown, failure?: unknown): TenantryError {
  const role = login ?? '<the runtime login>'
  return new TenantryError(
    'ISOLATION_MISCONFIGURED',
    `The runtime login "${role}" fails because of a session default of its role (${(error as Error).message})${failure === undefined ? '' : `, and removing it as the owner failed (${(failure as Error).message})`}; remove it as the role's owner: alter role ${role} reset all; alter role ${role} in database <this database> reset all`,
    { cause: error },
  )
}
