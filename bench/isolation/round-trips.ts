import type pg from 'pg'

const counted = new WeakSet<pg.PoolClient>()

/**
 * Counts `client.query` calls on every client `pool` hands out from now on. Each
 * is one Sync (or one simple query), so one network round trip: the same unit as
 * `SharedSchemaIsolation.stats.roundTrips`, for code paths Tenantry does not count
 * (kysely's own PostgresDialect, a hand-written transaction). Returns a reader.
 */
export function countRoundTrips(pool: pg.Pool): () => number {
  let count = 0
  pool.on('acquire', (client: pg.PoolClient) => {
    if (counted.has(client)) return
    counted.add(client)
    const query = client.query
    client.query = function countedQuery(this: pg.PoolClient, ...args: unknown[]) {
      count++
      return (query as (...a: unknown[]) => unknown).apply(this, args)
    } as typeof client.query
  })
  return () => count
}
