import type { PGlite } from '@electric-sql/pglite'
import { createPgConfig } from '@electric-sql/pglite/node-postgres'
import pg from 'pg'
import type { PostgresTarget } from '../driver/target.ts'

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
