import type pg from 'pg'
import { forgetPreparedStatements } from './held-client.ts'
import type { PipelineStatement } from './pipelined-query.ts'

/**
 * Statements that put a connection back as a fresh login left it, run before it
 * is reused when a query on it held SQL the plugin could not see into (a raw
 * fragment, a trusted statement, a raw client, an ORM's SQL): a transaction left
 * open, session settings (`set_config(…, false)`), a role set for the session,
 * a session authorization set (PGlite, where every login is a superuser), prepared statements (`PREPARE`, node-postgres' named queries: another tenant
 * could `EXECUTE` one, or reuse its name and run what the first tenant prepared
 * under it), cursors, LISTENs, session advisory locks, temporary objects and
 * sequence state (`lastval()`) never reach the next checkout, and `random()`
 * gets a fresh seed (a `setseed()` would otherwise make the next tenant's
 * values predictable). After it,
 * node-postgres is told to forget the statements it believes prepared
 * (`forgetPreparedStatements`).
 */
export const SESSION_RESET_SQL = 'rollback; reset session authorization; reset all; reset role; deallocate all; close all; unlisten *; select pg_catalog.pg_advisory_unlock_all(); discard temp; discard sequences; ' +
  // `reset all` leaves random()'s seed as `setseed()` left it: a fresh one from the server's strong random source.
  "select pg_catalog.setseed(('x' operator(pg_catalog.||) pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 1, 8))::bit(32)::int / 2147483648.0)"

/** How many statements SESSION_RESET_SQL is. */
export const SESSION_RESET_STATEMENTS = SESSION_RESET_SQL.split(';').length

/**
 * The same reset as statements that follow a statement inside its own implicit
 * transaction, in the same round trip (`runAround(client, before, main,
 * TRAILING_RESET)`): everything but the `rollback`. They run only when the
 * statement succeeded; after a failure the connection needs SESSION_RESET_SQL
 * (a failed statement may have left non-transactional state: a session
 * advisory lock, a parsed named statement, a sequence's `lastval()`).
 */
export const TRAILING_RESET: readonly PipelineStatement[] = SESSION_RESET_SQL.split(';')
  .map((sql) => sql.trim())
  .filter((sql) => sql !== 'rollback')
  .map((sql) => ({ sql }))

/**
 * Runs SESSION_RESET_SQL on `client` and clears node-postgres' record of named
 * statements. False when the connection must be closed instead of reused: the
 * reset failed, or the record could not be cleared.
 *
 * @example
 * const reusable = await resetSession(routed.client)
 * routed.release(!reusable)
 */
export async function resetSession(client: pg.ClientBase): Promise<boolean> {
  try {
    await client.query(SESSION_RESET_SQL)
  } catch {
    return false
  }
  return forgetPreparedStatements(client)
}
