import type { ScopedTenant } from '@tenantry/core'
import { eq } from 'drizzle-orm'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import { bigint, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core'
import type { ColumnType, CompiledQuery, Kysely } from 'kysely'
import type { Workload, WorkloadTenant } from './workload.ts'

interface ItemsTable {
  id: ColumnType<string, never, never>
  tenant_id: string
  category: number
  name: string
  amount: number
}

/** The workload's table as Kysely sees it. */
export interface BenchDB {
  items: ItemsTable
}

/**
 * The same table for Drizzle. Keys are the column names, so its rows have the
 * shape of the Kysely and raw SQL ones (`tenant_id`) and one check serves all.
 */
export const items = pgTable('items', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  tenant_id: uuid('tenant_id').notNull(),
  category: integer('category').notNull(),
  name: text('name').notNull(),
  amount: integer('amount').notNull(),
})

/** A query ready to run or compile (a SelectQueryBuilder). */
export interface BuiltQuery {
  execute(): Promise<{ tenant_id: string }[]>
  compile(): CompiledQuery
}

/** A Drizzle select ready to run or print. */
export interface DrizzleQuery {
  execute(): Promise<{ tenant_id: string }[]>
  toSQL(): { sql: string; params: unknown[] }
}

/** One query of the benchmark: how to pick its argument and how to write it in each API. */
export interface QueryShape {
  readonly name: 'point_select' | 'scan_1pct'
  /** The argument for the tenant in scope: one of its ids, or one of its categories. */
  pick(tenant: WorkloadTenant): number
  build(db: Kysely<BenchDB>, argument: number): BuiltQuery
  /** The query as hand-written SQL for plain node-postgres, `$1` the argument. */
  readonly sql: string
  drizzle(db: NodePgDatabase, argument: number): DrizzleQuery
  readonly expectedRows: number
}

/** Throws unless `rows` are exactly `expected` rows of `tenant`'s (the first is checked; the workload gives one tenant per id and category). */
export function checkRows(rows: readonly { tenant_id: string }[], expected: number, tenant: ScopedTenant, what: string): void {
  if (rows.length !== expected || rows[0]?.tenant_id !== tenant.id) {
    throw new Error(`${what}: expected ${expected} row(s) of tenant ${tenant.slug}, got ${rows.length}${rows[0] ? ` (first of tenant ${rows[0].tenant_id})` : ''}`)
  }
}

export function queryShapes(workload: Workload): QueryShape[] {
  return [
    {
      name: 'point_select',
      pick: (t) => t.ids[Math.floor(Math.random() * t.ids.length)] as number,
      build: (db, id) => db.selectFrom('items').selectAll().where('id', '=', String(id)),
      sql: 'select * from items where id = $1',
      drizzle: (db, id) => db.select().from(items).where(eq(items.id, id)),
      expectedRows: 1,
    },
    {
      name: 'scan_1pct',
      pick: (t) => t.firstCategory + Math.floor(Math.random() * workload.categoriesPerTenant),
      build: (db, category) => db.selectFrom('items').selectAll().where('category', '=', category),
      sql: 'select * from items where category = $1',
      drizzle: (db, category) => db.select().from(items).where(eq(items.category, category)),
      expectedRows: workload.rowsPerTenant / workload.categoriesPerTenant,
    },
  ]
}
