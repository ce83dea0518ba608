/**
 * The leak fuzzer's world (packages/postgres/test/fuzz/schema.ts) as Drizzle
 * pg-core tables, built from the same column lists so the two cannot drift.
 * Property keys are the SQL column names: a spec's `alias.column` is
 * `relation[column]`, and a CTE or subquery column keeps its name.
 */
import { boolean, integer, pgTable, text, uuid, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import { columnsOf, TABLES, TENANT_TABLES, type Column, type TableName } from '../../../postgres/test/fuzz/schema.ts'

/** A fuzz table in Drizzle: its columns by SQL name. */
export type FuzzTable = PgTable & Record<string, PgColumn>

function columnOf(column: Column) {
  const built = column.type === 'int' ? integer(column.name) : column.type === 'text' ? text(column.name) : column.type === 'bool' ? boolean(column.name) : uuid(column.name)
  return column.nullable ? built : built.notNull()
}

function table(name: string, columns: readonly Column[]): FuzzTable {
  return pgTable(name, Object.fromEntries(columns.map((c) => [c.name, columnOf(c)]))) as unknown as FuzzTable
}

/** The tables a spec reads and writes, unqualified (the scope's search_path or the oracle's decides which). */
export interface FuzzTables {
  /** Every column, `tenant_id` included where the model's tables have it. */
  readonly read: Readonly<Record<TableName, FuzzTable>>
  /**
   * The tenant tables without `tenant_id`, as application code sees them: an
   * INSERT leaves the column to the database default (the scope's tenant, or
   * tenant B on the oracle's copy). Drizzle's `insert().select()` takes every
   * column of the table, in order, so this is the table it inserts into.
   */
  readonly insert: Readonly<Record<string, FuzzTable>>
}

export function fuzzTables(options: { readonly tenantColumn: boolean }): FuzzTables {
  const columns = columnsOf(options.tenantColumn)
  const read = Object.fromEntries(TABLES.map((name) => [name, table(name, columns[name])])) as Record<TableName, FuzzTable>
  const insert = Object.fromEntries(TENANT_TABLES.map((name) => [name, table(name, columns[name].filter((c) => c.name !== 'tenant_id'))]))
  return { read, insert }
}

/**
 * The columns of the recursive `walk` CTE. A CTE given a selection of plain
 * SQL expressions would make Drizzle print its columns unqualified (`"node"`),
 * ambiguous once `walk` is joined with itself; columns of a table named `walk`
 * print as `"walk"."node"`.
 */
export const walkShape = pgTable('walk', { node: integer('node').notNull(), next: integer('next'), depth: integer('depth').notNull() })
