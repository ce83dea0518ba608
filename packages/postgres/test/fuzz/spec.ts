/**
 * The query language of the leak fuzzer: plain data that `render.ts` turns into a
 * Kysely query. Every column reference is qualified (`alias.column`) and typed, so
 * a generated query is valid SQL; what it returns is left to the database.
 */
import type { ColumnType, TenantTableName } from './schema.ts'

export type Cmp = '=' | '<>' | '<' | '>' | '<=' | '>='
export type Literal = string | number | boolean

export type Pred =
  | { readonly p: 'cmp'; readonly col: string; readonly op: Cmp; readonly value: Literal }
  | { readonly p: 'cols'; readonly left: string; readonly op: Cmp; readonly right: string }
  | { readonly p: 'null'; readonly col: string; readonly not: boolean }
  | { readonly p: 'and' | 'or'; readonly items: readonly Pred[] }
  | { readonly p: 'not'; readonly item: Pred }
  /** `col [not] in (select sub.select from …)` */
  | { readonly p: 'in'; readonly col: string; readonly not: boolean; readonly sub: Sub }
  | { readonly p: 'exists'; readonly not: boolean; readonly sub: Sub }
  /** `col op (select agg(…) from …)`, a scalar subquery */
  | { readonly p: 'scalar'; readonly col: string; readonly op: Cmp; readonly sub: Sub }

export interface Sub {
  readonly from: Source
  readonly select: string
  readonly agg?: 'count' | 'max' | 'sum'
  readonly where?: Pred
  /** `order by <select> limit n` (not with an aggregate). */
  readonly limit?: number
}

/**
 * A table or CTE by name (unaliased when `as` equals `name`), or a derived table
 * `(select * from name as inner where … order by … limit n) as as`.
 */
export type Source =
  | { readonly s: 'ref'; readonly name: string; readonly as: string }
  | {
      readonly s: 'derived'
      readonly name: string
      readonly inner: string
      readonly where?: Pred
      /** `order by` every column, then `limit`: a deterministic subset. */
      readonly limit?: { readonly n: number; readonly orderBy: readonly string[] }
      readonly as: string
    }

/**
 * A CTE: `name as (select inner.columns… from from as inner where …)`, where `from`
 * may be a table of the same name; a data-modifying one
 * `name as (update|delete … returning columns)`; or the recursive `walk(node, next, depth)`
 * that starts at rows of `from` and follows `step.stepColumn = walk.next` up to depth 2.
 */
export type Cte =
  | { readonly c: 'select'; readonly name: string; readonly from: string; readonly inner: string; readonly columns: readonly string[]; readonly where?: Pred }
  | { readonly c: 'dml'; readonly name: string; readonly dml: 'update' | 'delete'; readonly table: TenantTableName; readonly inner: string; readonly columns: readonly string[]; readonly set?: SetItem; readonly where?: Pred }
  | {
      readonly c: 'walk'
      readonly name: 'walk'
      readonly from: string
      readonly inner: string
      readonly start: string
      readonly next: string
      readonly step: string
      readonly stepInner: string
      readonly stepColumn: string
      readonly stepNext: string
      readonly where?: Pred
    }

export type JoinKind = 'inner' | 'left' | 'right' | 'full' | 'cross'

export interface Join {
  readonly kind: JoinKind
  readonly source: Source
  readonly on?: Pred
  /** A LATERAL derived table, whose WHERE may use the tables to its left (inner, left and cross only). */
  readonly lateral?: boolean
}

export type Output =
  | { readonly o: 'rows'; readonly columns: readonly string[]; readonly distinct: boolean; readonly scalar?: Sub }
  | { readonly o: 'aggregate'; readonly groupBy: readonly string[]; readonly sum?: string; readonly havingMoreThan?: number }

export interface SelectSpec {
  readonly kind: 'select'
  readonly with: readonly Cte[]
  /** One FROM item, or two (a comma join). */
  readonly from: readonly Source[]
  readonly joins: readonly Join[]
  readonly where?: Pred
  readonly output: Output
  /** `<this> op <the same query with another WHERE>` */
  readonly compound?: { readonly op: 'union' | 'unionAll' | 'intersect' | 'except'; readonly where?: Pred }
}

export type SetItem =
  | { readonly column: string; readonly value: Literal }
  | { readonly column: string; readonly add: number }
  /** `column = (select count(…) from …)` */
  | { readonly column: string; readonly count: Sub }

export interface UpdateSpec {
  readonly kind: 'update'
  readonly with: readonly Cte[]
  readonly table: TenantTableName
  readonly as: string
  readonly set: readonly SetItem[]
  readonly from?: Source
  /** A join onto the FROM item (UPDATE ... FROM a JOIN b). */
  readonly join?: Join
  readonly where?: Pred
  /** Columns of the target returned (empty: no RETURNING; the affected count is compared). */
  readonly returning: readonly string[]
}

export interface DeleteSpec {
  readonly kind: 'delete'
  readonly with: readonly Cte[]
  readonly table: TenantTableName
  readonly as: string
  readonly using?: Source
  /** A join onto the USING item. */
  readonly join?: Join
  readonly where?: Pred
  readonly returning: readonly string[]
}

/** A source column, a literal (as a bare parameter, or cast to the column's type), `column + n`, or a scalar subquery. */
export type InsertValue =
  | { readonly ref: string }
  | { readonly value: Literal; readonly cast?: ColumnType }
  | { readonly plus: string; readonly n: number }
  | { readonly sub: Sub }

/**
 * `insert into table (columns…) select values… from from where … [union select … where unionWhere]`,
 * or, without `from`, `insert into table (columns…) values (values…)`; RETURNING * either
 * way. The tenant column is left to Tenantry.
 */
export interface InsertSpec {
  readonly kind: 'insert'
  readonly with: readonly Cte[]
  readonly table: TenantTableName
  readonly columns: readonly string[]
  readonly values: readonly InsertValue[]
  readonly from?: Source
  readonly where?: Pred
  readonly unionWhere?: Pred
}

export type QuerySpec = SelectSpec | UpdateSpec | DeleteSpec | InsertSpec

/** A column visible at some point of a query, with the type that decides what it may be compared with. */
export interface ScopeColumn {
  readonly ref: string
  readonly type: ColumnType
}
