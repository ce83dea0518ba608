/**
 * Migrations need a session of their own: the fleet lock is a session advisory
 * lock held for the run, and a step outside a transaction sets the target's
 * search_path and scope for the session. A transaction pooler (PgBouncer in
 * transaction mode) gives each transaction whatever server connection is free,
 * so through one the lock would not keep runners apart and the settings would
 * reach other clients. This is the one check every session-bound entry makes.
 */
import { TenantryError } from '@tenantry/core'
import type pg from 'pg'
import { detectTransactionPooler } from '../doctor/transaction-pooler.ts'
import type { PostgresTarget } from '../driver/target.ts'

/**
 * How a control target reaches PostgreSQL: `'transaction'`, through a
 * transaction pooler (session-bound work refuses at once); `'none'`, directly
 * or through a session-mode pool (trusted, not probed). Left out, the target
 * is probed once per pool before the first session-bound work.
 */
export type ControlPooler = 'transaction' | 'none'

/** One probe per pool: a migrator that runs again (a warmed one) does not pay it twice. */
const probed = new WeakMap<pg.Pool, Promise<boolean>>()

function probe(pool: pg.Pool): Promise<boolean> {
  let found = probed.get(pool)
  if (found === undefined) {
    found = detectTransactionPooler(pool)
    probed.set(pool, found)
    // A probe that could not connect says nothing: ask again next time.
    found.catch(() => probed.delete(pool))
  }
  return found
}

/**
 * The refusal of session-bound work (`operation`) through a transaction
 * pooler: ISOLATION_MISCONFIGURED, with what to do instead.
 *
 * @example
 * throw sessionRequired('tenantry migrate', 'declared')
 */
export function sessionRequired(operation: string, how: 'declared' | 'detected'): TenantryError {
  const through = how === 'declared'
    ? "the control connection is declared a transaction pooler (database.pooler: 'transaction')"
    : 'the control connection goes through a transaction pooler (PgBouncer in transaction mode: one client is served by several server connections)'
  return new TenantryError(
    'ISOLATION_MISCONFIGURED',
    `${operation} needs a session of its own (the fleet lock is a session advisory lock held for the run; installs and migration steps outside a transaction set session state), and ${through}, which does not keep one: the lock would not keep runners apart. Set database.directUrl to a URL that reaches PostgreSQL directly (or a session-mode pool): migrations, installs and provisioning go there, tenant traffic stays on the pooler. Or run it with a config whose URL is PostgreSQL directly. See docs/pgbouncer.md.`,
    { details: { operation, pooler: how } },
  )
}

/**
 * Refuses `operation` unless `control` keeps a session: at once for a target
 * declared a transaction pooler, after a probe (once per pool) for one not
 * declared either way. PGlite is one session: always fine.
 *
 * @example
 * await requireSession(control, 'the fleet migration lock', options.pooler)
 */
export async function requireSession(control: PostgresTarget, operation: string, pooler: ControlPooler | undefined): Promise<void> {
  if (pooler === 'transaction') throw sessionRequired(operation, 'declared')
  if (pooler === 'none' || control.backend !== 'postgres') return
  if (await probe(control.pool)) throw sessionRequired(operation, 'detected')
}
