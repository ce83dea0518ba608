import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import type { TableShape } from './introspect.ts'
import type { CheckLog } from './report.ts'
import { isComparable, type SampleRowFactory } from './sample-rows.ts'

// Kysely<any>: the kit works on whatever schema the user has.
export type AnyDb = Kysely<any>
export type AnyEb = ExpressionBuilder<any, any>
export type Row = Record<string, unknown>

/** Rows the kit wrote, per tenant label and table, so that it can check and remove them. */
export class WrittenRows {
  readonly #rows = new Map<string, Row[]>()

  add(label: 'a' | 'b', table: string, row: Row): void {
    const key = `${label}:${table}`
    const list = this.#rows.get(key) ?? []
    list.push(row)
    this.#rows.set(key, list)
  }

  of(label: 'a' | 'b', table: string): Row[] {
    return this.#rows.get(`${label}:${table}`) ?? []
  }
}

/** Everything the checks share for one run of the kit. */
export interface KitState {
  readonly db: AnyDb
  readonly tenantColumn: string
  readonly a: ScopedTenant
  readonly b: ScopedTenant
  /** Tenant tables, parents first. */
  readonly shapes: readonly TableShape[]
  /** Rows written by the setup; the checks compare against these. */
  readonly written: WrittenRows
  /** Rows written later (cross-tenant references, a leaked insert); cleaned up too. */
  readonly extra: WrittenRows
  readonly log: CheckLog
  /** For foreign keys to tables outside the tenant set: an existing parent row. */
  readonly outsideParents: ReadonlyMap<string, Row>
  /** Foreign keys left NULL to break a cycle. */
  readonly deferred: ReadonlySet<string>
  /** Row factories by table name. */
  readonly samples: Readonly<Record<string, SampleRowFactory>>
}

/** Runs `fn` as `tenant`, even if the caller is inside another tenant's scope. */
export function asTenant<T>(tenant: ScopedTenant, fn: () => Promise<T>): Promise<T> {
  return runWithTenant(tenant, fn, { switch: true })
}

/** The columns that identify a row: the primary key, or else every comparable column written. */
export function keyColumns(shape: TableShape, row: Row): string[] {
  if (shape.primaryKey.length > 0) return [...shape.primaryKey]
  return shape.columns.filter((c) => isComparable(c) && row[c.name] !== null && row[c.name] !== undefined).map((c) => c.name)
}

/** `(k1 = $1 and k2 = $2) or (...)` matching exactly `rows`. */
export function matchRows(eb: AnyEb, shape: TableShape, rows: readonly Row[], alias?: string): Expression<SqlBool> {
  const ref = (column: string): string => (alias === undefined ? column : `${alias}.${column}`)
  return eb.or(rows.map((row) => eb.and(keyColumns(shape, row).map((column) => eb(ref(column), '=', row[column])))))
}

/** The rows among `rows` that carry `tenantId` in any column. */
export function rowsCarrying(rows: readonly Row[], tenantId: string): Row[] {
  const id = tenantId.toLowerCase()
  return rows.filter((row) => Object.values(row).some((v) => typeof v === 'string' && v.toLowerCase() === id))
}

/** A stable text form of a row, for comparing rows read at different times. */
export function rowText(row: Row): string {
  const entries = Object.keys(row)
    .sort()
    .map((key) => [key, normalizeValue(row[key])])
  return JSON.stringify(entries)
}

function normalizeValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'bigint') return value.toString()
  if (Buffer.isBuffer(value)) return value.toString('hex')
  return value
}

/** A short preview of rows for failure details. */
export function preview(rows: readonly Row[]): string {
  const shown = rows.slice(0, 3).map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
  return shown.join(', ') + (rows.length > 3 ? `, … (${rows.length} rows)` : '')
}
