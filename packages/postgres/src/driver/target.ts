import type { PGlite } from '@electric-sql/pglite'
import { createPgConfig } from '@electric-sql/pglite/node-postgres'
import pg from 'pg'

/** Which engine a pool talks to. PGlite is PostgreSQL compiled to WASM, in process. */
export type PostgresBackend = 'postgres' | 'pglite'

/**
 * A node-postgres pool and the engine behind it. Tenantry speaks the PostgreSQL
 * wire protocol through node-postgres to both engines, so every code path
 * (pipelining included) is the same on PGlite and on a server.
 */
export interface PostgresTarget {
  readonly backend: PostgresBackend
  readonly pool: pg.Pool
}

/**
 * A target for a PostgreSQL server.
 *
 * @example
 * const target = postgresTarget({ connectionString: process.env.DATABASE_URL, max: 20 })
 */
export function postgresTarget(config: string | pg.PoolConfig): PostgresTarget {
  const options = typeof config === 'string' ? { connectionString: config } : config
  return { backend: 'postgres', pool: new pg.Pool(options) }
}

/**
 * A target for an embedded PGlite instance. PGlite is a single connection, so the
 * pool holds one client and queries queue for it. The instance stays the caller's
 * to close, and must not be used by anything else at the same time.
 *
 * @example
 * const target = pgliteTarget(await PGlite.create('./.tenantry/db'))
 */
export function pgliteTarget(pglite: PGlite): PostgresTarget {
  const config = createPgConfig(pglite) as unknown as pg.PoolConfig
  return { backend: 'pglite', pool: new pg.Pool({ ...config, max: 1 }) }
}
