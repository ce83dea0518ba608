import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import type { AnyDb, AnyEb, Row, TableShape } from './shapes.ts'

export type { AnyDb, AnyEb, Row } from './shapes.ts'
import type { CheckLog } from './report.ts'
import { isComparable, planRow, type SampleRowFactory } from './sample-rows.ts'

// Kysely<any>: the kit works on whatever schema the user has.

/** Rows the kit wrote, per tenant label and table, so that it can check and remove them. */
export class WrittenRows {
  readonly #rows = new Map<string, Row[]>()

  add(label: Label, table: string, row: Row): void {
    const key = `${label}:${table}`
    const list = this.#rows.get(key) ?? []
    list.push(row)
    this.#rows.set(key, list)
  }

  of(label: Label, table: string): Row[] {
    return this.#rows.get(`${label}:${table}`) ?? []
  }
}

export type Label = 'a' | 'b'

/** Everything the checks share for one run of the kit. */
export interface KitState {
  readonly db: AnyDb
  /** The configured tenant column of shared tables (null: none). */
  readonly tenantColumn: string | null
  /**
   * The tenant column each tenant's rows carry: the configured one for a tenant of
   * the shared model, null for a tenant placed in its own schema or database.
   */
  readonly columnOf: Readonly<Record<Label, string | null>>
  /**
   * True when A or B has no tenant column: rows are then told apart by content
   * (the kit's values differ per tenant), not by tenant id.
   */
  readonly placed: boolean
  readonly a: ScopedTenant
  readonly b: ScopedTenant
  /** The schema holding tenant A's tables, as introspected. */
  readonly schema: string
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

// Types whose value survives a round trip through JavaScript exactly, so that
// `column = $1` finds the row again (timestamps lose microseconds, dates shift).
const EXACT = new Set(['text', 'varchar', 'bpchar', 'citext', 'name', 'int2', 'int4', 'int8', 'numeric', 'uuid', 'bool'])

/**
 * The columns that tell one tenant's row from the other's when keys may repeat
 * across placements (serial keys start at 1 in every schema and database): the
 * key plus every exactly comparable column written, without the tenant column.
 */
export function contentColumns(shape: TableShape, row: Row, tenantColumn: string | null): string[] {
  const exact = shape.columns
    .filter((c) => c.category !== 'A' && (EXACT.has(c.type) || c.typeKind === 'e') && row[c.name] !== null && row[c.name] !== undefined)
    .map((c) => c.name)
  return [...new Set([...keyColumns(shape, row), ...exact])].filter((c) => c !== tenantColumn && c in row)
}

/** How `matchRows` identifies rows. */
export interface MatchOptions {
  /** Qualify the columns with this alias. */
  readonly alias?: string
  /** Match on `contentColumns` rather than the key alone. */
  readonly byContent?: boolean
  /** A column the querying tenant's tables do not have (its tenant column, when it is placed). */
  readonly omit?: string | null
}

/** `(k1 = $1 and k2 = $2) or (...)` matching exactly `rows`. */
export function matchRows(eb: AnyEb, shape: TableShape, rows: readonly Row[], options: MatchOptions = {}): Expression<SqlBool> {
  const { alias, byContent = false, omit = null } = options
  const ref = (column: string): string => (alias === undefined ? column : `${alias}.${column}`)
  const columnsOf = (row: Row): string[] => (byContent ? contentColumns(shape, row, omit) : keyColumns(shape, row).filter((c) => c !== omit))
  return eb.or(rows.map((row) => eb.and(columnsOf(row).map((column) => eb(ref(column), '=', row[column])))))
}

/**
 * `matchRows` for a query run as `viewer`: by content when keys may repeat across
 * placements, and without the tenant column when the viewer's tables have none.
 */
export function matchAs(state: KitState, viewer: Label, eb: AnyEb, shape: TableShape, rows: readonly Row[], options: { byContent?: boolean } = {}): Expression<SqlBool> {
  const omit = state.columnOf[viewer] === null ? state.tenantColumn : null
  return matchRows(eb, shape, rows, { byContent: options.byContent ?? state.placed, omit })
}

/** The columns of `shape` that exist in `viewer`'s tables. */
export function columnsVisibleTo(state: KitState, viewer: Label, shape: TableShape): TableShape['columns'] {
  if (state.columnOf[viewer] !== null || state.tenantColumn === null) return shape.columns
  return shape.columns.filter((c) => c.name !== state.tenantColumn)
}

/** Every row the kit knows `label` holds in `table`: written by the setup, or later. */
export function knownRows(state: KitState, label: Label, table: string): Row[] {
  return [...state.written.of(label, table), ...state.extra.of(label, table)]
}

/**
 * The rows among `rows` (read from `table` as `viewer`) that are not the viewer's.
 * Shared model: rows carrying tenant A's id (as B), or not carrying it (as A).
 * With a placed tenant: rows that are not among the viewer's own known rows,
 * compared on the columns that were read.
 */
export function foreignRows(state: KitState, viewer: Label, table: string, rows: readonly Row[]): Row[] {
  if (!state.placed) {
    return viewer === 'b' ? rowsCarrying(rows, state.a.id) : rows.filter((row) => rowsCarrying([row], state.a.id).length === 0)
  }
  const own = knownRows(state, viewer, table)
  return rows.filter((row) => {
    const text = rowText(row)
    const keys = Object.keys(row)
    return !own.some((known) => rowText(pick(known, keys)) === text)
  })
}

function pick(row: Row, keys: readonly string[]): Row {
  return Object.fromEntries(keys.map((key) => [key, row[key] ?? null]))
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

/** A row for `label` to write in `shape` (see `planRow`), with the tenant column as that tenant's model wants it. */
export function planRowFor(
  state: KitState,
  label: Label,
  shape: TableShape,
  index: number,
  parents: ReadonlyMap<string, Row>,
  deferred: ReadonlySet<string> = state.deferred,
): ReturnType<typeof planRow> {
  const tenant = label === 'a' ? state.a : state.b
  return planRow({
    shape, tenant, label, index, parents, deferred,
    tenantColumn: state.tenantColumn,
    carriesTenant: state.columnOf[label] !== null,
    outsideParents: state.outsideParents,
    sample: state.samples[shape.name],
  })
}
