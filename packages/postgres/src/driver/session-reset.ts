import type pg from 'pg'
import { forgetPreparedStatements } from './held-client.ts'
import { runAround, type PipelineStatement } from './pipelined-query.ts'
import type { TransactionStatus } from './held-client.ts'

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
export const SESSION_RESET_SQL = 'rollback; reset session authorization; reset all; reset role; deallocate all; close all; unlisten *; discard temp; discard sequences; ' +
  // `reset all` leaves random()'s seed as `setseed()` left it: a fresh one from the server's strong random source
  // (gen_random_uuid; uuid_hash spreads its bits over 32, as many as the seed took before), with the advisory unlock in one statement.
  'select pg_catalog.pg_advisory_unlock_all(), pg_catalog.setseed(pg_catalog.uuid_hash(pg_catalog.gen_random_uuid())::float8 / 2147483648)'

/** How many statements SESSION_RESET_SQL is. */
export const SESSION_RESET_STATEMENTS = SESSION_RESET_SQL.split(';').length

/**
 * The same reset as statements that follow a statement in the same round trip
 * (`runAround(client, before, main, TRAILING_RESET)`): everything but the
 * `rollback`. They run only when what precedes them succeeded. After a
 * failure the connection needs SESSION_RESET_SQL, and it must still be the
 * same server connection: so a tenant's opaque statement always runs inside an
 * explicit BEGIN (a failure leaves the transaction open and aborted, and a
 * transaction pooler keeps the server connection for the client until the
 * reset's ROLLBACK), and a COMMIT goes with COMMIT_WITH_RESET, never bare
 * before this list.
 */
export const TRAILING_RESET: readonly PipelineStatement[] = SESSION_RESET_SQL.split(';')
  .map((sql) => sql.trim())
  .filter((sql) => sql !== 'rollback')
  .map((sql) => ({ sql }))

/**
 * What a transaction's end does not undo: prepared statements, session
 * advisory locks, sequence state and random()'s seed outlive a ROLLBACK, so
 * they are reset before COMMIT (a COMMIT that fails — a deferred constraint, a
 * serialization failure — ends the transaction and, behind PgBouncer, hands
 * the server connection on with nothing after it run).
 */
const outlives = (statement: PipelineStatement): boolean =>
  statement.sql === 'deallocate all' || statement.sql === 'discard sequences' || statement.sql.startsWith('select pg_catalog.pg_advisory_unlock_all(), pg_catalog.setseed(')

/**
 * COMMIT with the session reset around it, for a transaction that ran opaque
 * SQL and is still open (not aborted): the resets of state a transaction's
 * end leaves go before COMMIT, the rest (settings, role, cursors held past the
 * commit, LISTEN, temporary tables: undone anyway by a COMMIT that fails)
 * after it. Deferred triggers at COMMIT still run with the scope's role and
 * settings.
 *
 * @example
 * await runAround(client, COMMIT_WITH_RESET.before, { text: 'commit' }, COMMIT_WITH_RESET.after)
 */
export const COMMIT_WITH_RESET: { readonly before: readonly PipelineStatement[]; readonly after: readonly PipelineStatement[] } = {
  before: TRAILING_RESET.filter(outlives),
  after: TRAILING_RESET.filter((statement) => !outlives(statement)),
}

/** COMMIT between the reset's two halves, for a statement Tenantry wrapped in its own BEGIN. */
export const COMMIT_AND_RESET: readonly PipelineStatement[] = [...COMMIT_WITH_RESET.before, { sql: 'commit' }, ...COMMIT_WITH_RESET.after]

/** How a transaction ended with the session reset: node-postgres' result of the COMMIT or ROLLBACK, and what it took. */
export interface EndedWithReset {
  readonly result: pg.QueryResult
  readonly roundTrips: number
  readonly statements: number
}

/**
 * Ends a transaction that ran SQL Tenantry could not see into, with the
 * session reset in the same round trip: a COMMIT of a transaction still open
 * as COMMIT_WITH_RESET, anything else (a ROLLBACK, the COMMIT of an aborted
 * transaction, which answers ROLLBACK) followed by TRAILING_RESET. `status`:
 * the last one the server reported; a transaction it did not show aborted
 * (25P02 from the first reset) is ended again as aborted.
 *
 * @example
 * const { result } = await endWithReset(client, 'commit', held.transactionStatus())
 */
export async function endWithReset(client: pg.ClientBase, command: 'commit' | 'rollback', status: TransactionStatus | undefined): Promise<EndedWithReset> {
  if (command === 'commit' && status !== 'E' && status !== 'I') {
    try {
      const result = await runAround(client, COMMIT_WITH_RESET.before, { text: command }, COMMIT_WITH_RESET.after)
      return { result, roundTrips: 1, statements: 1 + TRAILING_RESET.length }
    } catch (error) {
      if ((error as { code?: unknown }).code !== '25P02') throw error
      const result = await runAround(client, [], { text: command }, TRAILING_RESET)
      return { result, roundTrips: 2, statements: 2 + TRAILING_RESET.length }
    }
  }
  const result = await runAround(client, [], { text: command }, TRAILING_RESET)
  return { result, roundTrips: 1, statements: 1 + TRAILING_RESET.length }
}

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
