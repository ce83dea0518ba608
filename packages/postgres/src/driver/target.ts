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
export function postgresTarget(config: string | pg.PoolConfig, options: TargetOptions = {}): PostgresTarget {
  const poolConfig = typeof config === 'string' ? { connectionString: config } : config
  const pool = new pg.Pool(poolConfig)
  // An idle connection that the server closes (restart, failover, a forced drop)
  // is removed by the pool; without a listener its 'error' event would crash the
  // process.
  pool.on('error', options.onIdleError ?? (() => undefined))
  return { backend: 'postgres', pool }
}

export interface TargetOptions {
  /** Called when an idle pooled connection fails (the pool has already dropped it). Default: ignore. */
  readonly onIdleError?: (error: Error) => void
}

