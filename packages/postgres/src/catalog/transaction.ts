import type pg from 'pg'

/** Anything that runs a parameterised statement: the pool, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
}

/**
 * Runs `work` in one transaction on one client of `pool`, committing when it
 * resolves and rolling back when it throws. Inside `work`, use only `client`:
 * a PGlite pool has a single connection, so a query on the pool would wait
 * for this very transaction forever.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken = false
  try {
    await client.query('begin')
    const result = await work(client)
    await client.query('commit')
    return result
  } catch (error) {
    // A connection that cannot even roll back is not fit to go back to the pool.
    await client.query('rollback').catch(() => {
      broken = true
    })
    throw error
  } finally {
    client.release(broken)
  }
}
