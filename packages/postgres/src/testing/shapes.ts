/** The types the conformance kit's modules share (no code: every module may import it). */
import type { ExpressionBuilder, Kysely } from 'kysely'

export type AnyDb = Kysely<any>
export type AnyEb = ExpressionBuilder<any, any>
export type Row = Record<string, unknown>

/**
 * Anything that runs a parameterized query and returns rows: a `pg.Pool`, a
 * `pg.Client` or `pg.PoolClient`, or your own wrapper.
 */
export interface CatalogClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>
}

/** Runs one catalog query and returns its rows. */
export type CatalogReader = <R = Row>(text: string, values: readonly unknown[]) => Promise<R[]>

/** What the kit needs to know of one column to write a valid value into it. */
export interface ColumnShape {
  readonly name: string
  readonly notNull: boolean
  /** Has a default, is an identity or a generated column: the kit may leave it out. */
  readonly defaulted: boolean
  readonly generated: boolean
  /** Type name after unwrapping domains (`int4`, `varchar`, `jsonb`, an enum's name…). */
  readonly type: string
  /** `b` base, `e` enum, `A` in category means array. */
  readonly typeKind: string
  readonly category: string
  readonly typmod: number
  readonly enumLabels: readonly string[] | null
}

/** A foreign key of a tenant table. */
export interface ForeignKeyShape {
  readonly name: string
  readonly columns: readonly string[]
  readonly parentSchema: string
  readonly parentTable: string
  readonly parentColumns: readonly string[]
}

/** One tenant table as the kit sees it. */
export interface TableShape {
  readonly name: string
  readonly columns: readonly ColumnShape[]
  /** Primary key columns; empty when the table has none. */
  readonly primaryKey: readonly string[]
  readonly foreignKeys: readonly ForeignKeyShape[]
}

