import type pg from 'pg'
import type { DoctorFinding } from './report.ts'

/**
 * Whether a transaction pooler (PgBouncer in `pool_mode = transaction`) stands
 * between `pool` and PostgreSQL, from what the server reports on two client
 * connections at once: with a pooler, one client is served by several server
 * connections (its `pg_backend_pid()` changes between transactions) and two
 * clients may share one; directly, neither can happen. It takes two clients of
 * `pool` for three round trips (false without asking for a pool of one). False when neither showed, which a session-mode
 * pooler (safe for Tenantry) also gives.
 *
 * @example
 * if (await detectTransactionPooler(target.pool)) console.warn('behind a transaction pooler: set pooler: \'transaction\'')
 */
export async function detectTransactionPooler(pool: pg.Pool): Promise<boolean> {
  // Two clients at once: a pool of one would wait for itself.
  if ((pool.options.max ?? 10) < 2) return false
  const first = await pool.connect()
  let second: pg.PoolClient | undefined
  try {
    const pidOf = async (client: pg.ClientBase): Promise<number> => (await client.query<{ pid: number }>('select pg_catalog.pg_backend_pid() as pid')).rows[0]!.pid
    const before = await pidOf(first)
    second = await pool.connect()
    // The second client holds a server connection in a transaction: behind a transaction pooler it is
    // usually the one the first just left (PgBouncer reuses the most recent), so the first gets another.
    await second.query('begin')
    const held = await pidOf(second)
    // The second holds the first's server connection: found, and the first must not ask again (with one
    // server connection in the pooler's pool it would wait for the second, which waits for it).
    if (held === before) {
      await second.query('rollback')
      return true
    }
    const after = await pidOf(first)
    await second.query('rollback')
    return after !== before
  } finally {
    second?.release()
    first.release()
  }
}

/**
 * Doctor's finding for a transaction pooler the config does not declare
 * (`database.pooler: 'transaction'`): named prepared statements (the statement
 * cache) and session state do not survive it. Undefined when there is none, or
 * it is declared.
 *
 * @example
 * const finding = transactionPoolerFinding(await detectTransactionPooler(pool), config.database.pooler === 'transaction')
 */
export function transactionPoolerFinding(detected: boolean, declared: boolean): DoctorFinding | undefined {
  if (!detected || declared) return undefined
  return {
    severity: 'error',
    check: 'connection.transaction_pooler',
    message: 'A transaction pooler (PgBouncer in transaction mode) is between Tenantry and PostgreSQL: one client connection is served by several server connections, so the statement cache\'s prepared statements and the fleet lock\'s session would not hold.',
    fix: "Declare it: database: { url, pooler: 'transaction' } (turns the statement cache off; run migrations against PostgreSQL directly, see docs/pgbouncer.md), or point the URL at PostgreSQL or at a pool in session mode.",
  }
}
