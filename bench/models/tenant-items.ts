import type { ScopedTenant } from '@tenantry/core'
import type { ColumnType, Kysely } from 'kysely'
import type pg from 'pg'

/**
 * The `items` table as the benchmark's queries see it in every model. In the
 * shared model it also has `tenant_id` (bench/isolation/workload.ts); a schema
 * or database of its own holds only its tenant's rows, so it has none.
 */
export interface ItemsTable {
  id: ColumnType<string, never, never>
  category: number
  name: string
  amount: number
}

export interface ModelsDB {
  items: ItemsTable
}

/** Rows each tenant holds, in every model. */
export const ROWS_PER_TENANT = 1000

/** A tenant of one model and the ids of its rows. */
export interface ModelTenant {
  readonly tenant: ScopedTenant
  readonly ids: Int32Array
}

/** Ids `firstId .. firstId + count - 1`. */
export function idRange(firstId: number, count = ROWS_PER_TENANT): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => firstId + i)
}

/**
 * Creates `items` (if the template did not bring it) in the schema or database
 * `client` is set to, and fills it with rows `firstId ..`: the same columns,
 * values and indexes as the shared table, minus `tenant_id`.
 */
export async function fillTenantItems(client: pg.ClientBase, firstId: number, count = ROWS_PER_TENANT): Promise<void> {
  await client.query(`create table if not exists items (
    id bigint primary key,
    category int not null,
    name text not null,
    amount int not null
  )`)
  await client.query(
    `insert into items (id, category, name, amount)
     select $1::bigint + g, g % 100, 'item ' || g, (g * 7919) % 10000
       from generate_series(0, $2::int - 1) as g`,
    [firstId, count],
  )
  await client.query('create index if not exists items_category on items (category)')
  await client.query('analyze items')
}

/** The one query of the benchmark: a point select by primary key. */
export function pointSelect(db: Kysely<ModelsDB>, id: number) {
  return db.selectFrom('items').selectAll().where('id', '=', String(id))
}

/** A random id of `t`. */
export function anyIdOf(t: ModelTenant): number {
  return t.ids[Math.floor(Math.random() * t.ids.length)] as number
}

/**
 * Every timed query checks what it got: exactly the row asked for, and in the
 * shared table that row's tenant. A variant cannot get faster by returning
 * nothing, or another tenant's row.
 */
export function checkPointRow(rows: readonly object[], id: number, tenant: ScopedTenant | undefined, what: string): void {
  const row = rows[0] as { id?: unknown; tenant_id?: unknown } | undefined
  const ok = rows.length === 1 && String(row?.id) === String(id) && (tenant === undefined || row?.tenant_id === undefined || row.tenant_id === tenant.id)
  if (!ok) throw new Error(`${what}: expected row ${id}${tenant ? ` of tenant ${tenant.slug}` : ''}, got ${rows.length} row(s)${row ? ` (first: id ${String(row.id)})` : ''}`)
}
