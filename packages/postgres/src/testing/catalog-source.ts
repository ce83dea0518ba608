import type { ScopedTenant } from '@tenantry/core'
import { trusted } from '@tenantry/kysely'
import { sql, type RawBuilder } from 'kysely'
import { asTenant } from './kit-state.ts'
import type { AnyDb, CatalogClient, CatalogReader, Row } from './shapes.ts'

export type { CatalogClient, CatalogReader } from './shapes.ts'

/**
 * Where the kit reads the structure of the tenant tables (pg_catalog), and a row of
 * each parent table outside the tenant set that a NOT NULL foreign key points at.
 *
 * @example
 * // schema per tenant: tenant A's schema, read through the admin pool
 * const introspect = (a: ScopedTenant): CatalogSource => ({ pool: target.pool, schema: a.placement!.schema! })
 */
export interface CatalogSource {
  /** A connection to the database that holds tenant A's tables. */
  readonly pool: CatalogClient
  /** The schema of tenant A's tables there. Default: the kit's `schema` option, else `public`. */
  readonly schema?: string
}


/** Reads through a pool or client. */
export function clientReader(client: CatalogClient): CatalogReader {
  return async <R>(text: string, values: readonly unknown[]) => (await client.query(text, [...values])).rows as R[]
}

/**
 * Reads in `tenant`'s own scope on the instance under test: its search_path for a
 * schema tenant, its own database for a database tenant. The statements are
 * catalog reads the kit wrote, so they are marked `trusted`.
 */
export function scopeReader(db: AnyDb, tenant: ScopedTenant): CatalogReader {
  return async <R>(text: string, values: readonly unknown[]) => {
    const query = trusted(parameterized<R>(text, values))
    return (await asTenant(tenant, () => query.execute(db))).rows
  }
}

/** `$1`-style SQL as a Kysely raw builder, each placeholder a bound value. */
function parameterized<R>(text: string, values: readonly unknown[]): RawBuilder<R> {
  const parts = text.split(/\$(\d+)/).map((piece, i) => (i % 2 === 0 ? sql.raw(piece) : sql.val(values[Number(piece) - 1])))
  return sql.join(parts, sql.raw('')) as RawBuilder<R>
}

/** The schema the tenant's unqualified names resolve to, read in its scope. */
export async function currentSchemaOf(read: CatalogReader): Promise<string | undefined> {
  const [row] = await read<{ schema: string | null }>('select current_schema() as schema', [])
  return row?.schema ?? undefined
}
