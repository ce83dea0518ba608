import type { PGlite } from '@electric-sql/pglite'
import { createPgConfig } from '@electric-sql/pglite/node-postgres'

interface ParseMessage {
  readonly types?: unknown
}

interface PgliteConnection {
  parse(query: ParseMessage): void
}

/**
 * node-postgres' config for a PGlite instance (`createPgConfig`), with one fix:
 * PGlite's connection (0.5) cannot send the Parse message of a query config
 * that carries its own type parsers (`types: { getTypeParser }`, which Drizzle
 * and `@prisma/adapter-pg` pass with every statement): its serializer calls
 * `types.forEach` and the connection falls out of step. node-postgres reads
 * `types` in Parse only as an array of parameter type OIDs, so a non-array is
 * dropped there, as node-postgres' own serializer does; the parsers still parse
 * the rows (node-postgres takes them from the query, not from Parse).
 *
 * @example
 * const pool = new pg.Pool({ ...pglitePgConfig(pglite), max: 1 })
 */
export function pglitePgConfig(pglite: PGlite): Record<string, unknown> {
  const config = createPgConfig(pglite) as unknown as Record<string, unknown> & { connection?: PgliteConnection }
  const connection = config.connection
  if (connection !== undefined && typeof connection.parse === 'function') {
    const parse = connection.parse.bind(connection)
    connection.parse = (query: ParseMessage) => parse(Array.isArray(query.types) || query.types === undefined ? query : { ...query, types: undefined })
  }
  return config
}
