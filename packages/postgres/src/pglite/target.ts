import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import type { PostgresTarget } from '../driver/target.ts'
import { pglitePgConfig } from './pg-config.ts'

/**
 * A target for an embedded PGlite instance. PGlite is a single connection, so the
 * pool holds one client and queries queue for it. The instance stays the caller's
 * to close, and must not be used by anything else at the same time.
 *
 * @example
 * const target = pgliteTarget(await PGlite.create('./.tenantry/db'))
 */
export function pgliteTarget(pglite: PGlite): PostgresTarget {
  const config = pglitePgConfig(pglite) as pg.PoolConfig
  return { backend: 'pglite', pool: new pg.Pool({ ...config, max: 1 }) }
}
