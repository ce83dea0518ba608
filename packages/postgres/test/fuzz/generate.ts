/**
 * Resolves the raw shapes of `raw.ts` into valid, readable QuerySpecs: every
 * column reference is in scope and comparisons pair columns of one type. The
 * printed counterexample of a failing property is the resolved spec.
 */
import type fc from 'fast-check'
import { rawQuery, type RawCte, type RawJoin, type RawPred, type RawQuery, type RawSet, type RawSource, type RawSub } from './raw.ts'
import { COLUMNS_NULLABLE, LITERALS, TABLES, TENANT_TABLES, columnsOf, type Column, type ColumnType, type TableName, type TenantTableName } from './schema.ts'
import type { Cmp, Cte, InsertSpec, InsertValue, Join, JoinKind, Pred, QuerySpec, ScopeColumn, SelectSpec, SetItem, Source, Sub } from './spec.ts'

const CMPS: readonly Cmp[] = ['=', '<>', '<', '>', '<=', '>=']
const CTE_NAMES = ['projects', 'tasks', 'comments', 'labels', 'recent']
const COMPOUNDS = ['union', 'unionAll', 'intersect', 'except'] as const
const NULLABLE = new Set(COLUMNS_NULLABLE)
const WALK_COLUMNS: readonly Column[] = [
  { name: 'node', type: 'int', nullable: false },
  { name: 'next', type: 'int', nullable: true },
  { name: 'depth', type: 'int', nullable: false },
]
const RELATIONS = [
  { child: 'tasks', column: 'project_id', parent: 'projects' },
  { child: 'comments', column: 'task_id', parent: 'tasks' },
] as const

function pick<T>(list: readonly T[], n: number): T {
  const item = list[n % list.length]
  if (item === undefined) throw new Error('pick from an empty list')
  return item
}

function scopeOf(alias: string, columns: readonly Column[]): ScopeColumn[] {
  return columns.map((c) => ({ ref: `${alias}.${c.name}`, type: c.type }))
}

function sameType(scope: readonly ScopeColumn[], type: ColumnType): ScopeColumn[] {
  const found = scope.filter((c) => c.type === type)
  // Every relation has an int column, so ints are always there; other types fall back to them.
  return found.length > 0 ? found : scope.filter((c) => c.type === 'int')
}

type Columns = Readonly<Record<TableName, readonly Column[]>>

interface Part {
  readonly source: Source
  readonly scope: ScopeColumn[]
  readonly origin: TableName | undefined
}

/** Name resolution for one query: visible CTEs, column types, fresh aliases. */
class Resolver {
  #next = 0
  /** The tables' columns: with the tenant column (shared model) or without (schema and database models). */
  readonly columns: Columns
  #ctes = new Map<string, { columns: readonly Column[]; origin: TableName | undefined }>()
  #types = new Map<string, ColumnType>()

  constructor(columns: Columns) {
    this.columns = columns
  }

  writable(table: TableName): readonly Column[] {
    return this.columns[table].filter((c) => c.name !== 'id' && c.name !== 'tenant_id')
  }

  alias(prefix: string): string {
    return `${prefix}${this.#next++}`
  }

  names(): string[] {
    return [...TABLES, ...[...this.#ctes.keys()].filter((n) => !(TABLES as readonly string[]).includes(n))]
  }

  relation(name: string): { columns: readonly Column[]; origin: TableName | undefined } {
    return this.#ctes.get(name) ?? { columns: this.columns[name as TableName], origin: name as TableName }
  }

  typeOf(ref: string): ColumnType {
    return this.#types.get(ref) ?? 'int'
  }

  ctes(raws: readonly RawCte[], allowWrites: boolean): Cte[] {
    // The recursive walk makes the whole list WITH RECURSIVE, which changes what a CTE body sees: it goes alone.
    const walk = raws.find((r) => r.kind === 7)
    if (walk) return [this.walk(walk)]
    const out: Cte[] = []
    for (const r of raws) {
      const name = pick(CTE_NAMES.filter((n) => !out.some((c) => c.name === n)), r.name)
      // One data-modifying CTE at most, under a SELECT: two writes to one row in a statement are unpredictable.
      if (r.kind === 6 && allowWrites && !out.some((c) => c.c === 'dml')) {
        const table = pick(TENANT_TABLES, r.from)
        const inner = this.alias('m')
        const scope = scopeOf(inner, this.columns[table])
        const columns = this.columns[table].filter((c, i) => c.name === 'id' || r.columns[i] === true)
        const where = r.where ? this.pred(r.where, scope) : undefined
        const dml = (r.picks[0] ?? 0) % 2 === 0 ? ('update' as const) : ('delete' as const)
        const set = dml === 'update' ? this.setItem({ col: r.picks[1] ?? 0, val: r.picks[2] ?? 0, how: r.picks[3] ?? 0, sub: undefined }, table, scope) : undefined
        out.push({ c: 'dml', name, dml, table, inner, columns: columns.map((c) => c.name), ...(set ? { set } : {}), ...(where ? { where } : {}) })
        this.#ctes.set(name, { columns, origin: table })
        continue
      }
      const from = pick(this.names(), r.from)
      const inner = this.alias('c')
      const all = this.relation(from)
      // The first column (`id`, or `node` for the walk) always, so joins and INSERT ... SELECT have a key.
      const columns = all.columns.filter((c, i) => i === 0 || r.columns[i] === true)
      const where = r.where ? this.pred(r.where, scopeOf(inner, all.columns)) : undefined
      out.push({ c: 'select', name, from, inner, columns: columns.map((c) => c.name), ...(where ? { where } : {}) })
      this.#ctes.set(name, { columns, origin: all.origin })
    }
    return out
  }

  walk(r: RawCte): Cte {
    const from = pick(TABLES, r.from)
    const step = pick(TABLES, r.picks[0] ?? 0)
    const inner = this.alias('w')
    const stepInner = this.alias('w')
    const ints = (table: TableName) => this.columns[table].filter((c) => c.type === 'int').map((c) => c.name)
    const where = r.where ? this.pred(r.where, scopeOf(inner, this.columns[from])) : undefined
    this.#ctes.set('walk', { columns: WALK_COLUMNS, origin: undefined })
    return {
      c: 'walk', name: 'walk', from, inner, step, stepInner,
      start: 'id',
      next: pick(ints(from), r.picks[1] ?? 0),
      stepColumn: pick(ints(step), r.picks[2] ?? 0),
      stepNext: pick(ints(step), r.picks[3] ?? 0),
      ...(where ? { where } : {}),
    }
  }

  /** A FROM / JOIN / USING item; `lateral` lets a derived table's WHERE see the tables to its left. */
  source(r: RawSource, prefix: string, options: { bare?: boolean; lateral?: readonly ScopeColumn[] } = {}): Part {
    const name = pick(this.names(), r.t)
    const { columns, origin } = this.relation(name)
    const derived = r.derived || options.lateral !== undefined
    if (!derived) {
      const as = r.bare && options.bare === true ? name : this.alias(prefix)
      return { source: { s: 'ref', name, as }, scope: scopeOf(as, columns), origin }
    }
    const as = this.alias(prefix)
    const inner = this.alias('i')
    const where = r.where ? this.pred(r.where, [...scopeOf(inner, columns), ...(options.lateral ?? [])]) : undefined
    const limit = r.limit === null ? {} : { limit: { n: r.limit, orderBy: columns.map((c) => `${inner}.${c.name}`) } }
    const source: Source = { s: 'derived', name, inner, as, ...(where ? { where } : {}), ...limit }
    return { source, scope: scopeOf(as, columns), origin }
  }

  pred(r: RawPred, scope: readonly ScopeColumn[]): Pred {
    switch (r.k) {
      case 'cmp': {
        const col = pick(scope, r.col)
        return { p: 'cmp', col: col.ref, op: pick(CMPS, r.op), value: pick(LITERALS[col.type], r.val) }
      }
      case 'cols': {
        const left = pick(scope, r.a)
        return { p: 'cols', left: left.ref, op: pick(CMPS, r.op), right: pick(sameType(scope, left.type), r.b).ref }
      }
      case 'null':
        return { p: 'null', col: pick(scope, r.col).ref, not: r.not }
      case 'and':
      case 'or':
        return { p: r.k, items: r.items.map((item) => this.pred(item, scope)) }
      case 'not':
        return { p: 'not', item: this.pred(r.item, scope) }
      case 'exists':
        return { p: 'exists', not: r.not, sub: this.sub(r.sub, scope, undefined) }
      case 'in': {
        const sub = this.sub({ ...r.sub, agg: 0 }, scope, undefined)
        // Compare with an outer column of the type the subquery selects.
        const type = this.typeOf(sub.select)
        const col = pick(sameType(scope, type), r.col)
        return { p: 'in', col: col.ref, not: r.not, sub: col.type === type ? sub : this.sub({ ...r.sub, agg: 0 }, scope, 'int') }
      }
      case 'scalar': {
        const col = pick(sameType(scope, 'int'), r.col)
        return { p: 'scalar', col: col.ref, op: pick(CMPS, r.op), sub: this.sub(r.sub, scope, 'int', true) }
      }
    }
  }

  /** A subquery selecting one column (of type `want`, if given); its WHERE sees its own columns first, then the outer ones. */
  sub(r: RawSub, outer: readonly ScopeColumn[], want: ColumnType | undefined, aggregate = false): Sub {
    const { source, scope } = this.source(r.from, 's', { bare: true })
    for (const c of scope) this.#types.set(c.ref, c.type)
    const select = pick(want === undefined ? scope : sameType(scope, want), r.col).ref
    const where = r.where ? this.pred(r.where, [...scope, ...outer]) : undefined
    const agg = aggregate ? pick(['count', 'max', 'sum'] as const, r.agg) : undefined
    const limit = agg === undefined && r.limit !== null ? r.limit : undefined
    return { from: source, select, ...(agg ? { agg } : {}), ...(where ? { where } : {}), ...(limit === undefined ? {} : { limit }) }
  }

  join(r: RawJoin, left: readonly Part[]): { join: Join; part: Part } {
    const leftScope = left.flatMap((l) => l.scope)
    const lateral = r.lateral && r.kind !== 'right' && r.kind !== 'full'
    const part = this.source(r.src, 't', lateral ? { lateral: leftScope } : {})
    const flags = lateral ? { lateral: true } : {}
    if (r.kind === 'cross') return { join: { kind: 'cross', source: part.source, ...flags }, part }
    const fallback = (): Pred => {
      const leftTypes = new Set(leftScope.map((c) => c.type))
      const mine = pick(part.scope.filter((c) => leftTypes.has(c.type)), r.a)
      return { p: 'cols', left: mine.ref, op: '=', right: pick(leftScope.filter((c) => c.type === mine.type), r.b).ref }
    }
    const base = (r.related ? relatedOn(part, left) : undefined) ?? fallback()
    const extra = r.extra ? this.pred(r.extra, [...part.scope, ...leftScope]) : undefined
    return { join: { kind: r.kind, source: part.source, on: extra ? { p: 'and', items: [base, extra] } : base, ...flags }, part }
  }

  setItem(r: Omit<RawSet, 'sub'> & { sub: RawSub | undefined }, table: TableName, scope: readonly ScopeColumn[]): SetItem {
    const column = pick(this.writable(table), r.col)
    if (column.type === 'int' && r.how >= 4 && r.sub) return { column: column.name, count: { ...this.sub(r.sub, scope, undefined, true), agg: 'count' } }
    if (column.type === 'int' && r.how >= 2) return { column: column.name, add: 1 + (r.val % 3) }
    return { column: column.name, value: pick(LITERALS[column.type], r.val) }
  }
}

/** `child.project_id = parent.id` when the joined relation and one on the left are related. */
function relatedOn(joined: Part, left: readonly Part[]): Pred | undefined {
  for (const l of left) {
    for (const rel of RELATIONS) {
      const pair = rel.child === joined.origin && rel.parent === l.origin ? [joined, l] : rel.parent === joined.origin && rel.child === l.origin ? [l, joined] : undefined
      const child = pair?.[0]?.scope.find((c) => c.ref.endsWith(`.${rel.column}`))
      const parent = pair?.[1]?.scope.find((c) => c.ref.endsWith('.id'))
      if (child && parent) return { p: 'cols', left: child.ref, op: '=', right: parent.ref }
    }
  }
  return undefined
}

function resolveSelect(r: Resolver, q: Extract<RawQuery, { k: 'select' }>): SelectSpec {
  const ctes = r.ctes(q.ctes, true)
  const froms = q.from.map((f, i) => r.source(f, 't', { bare: i === 0 }))
  const parts = [...froms]
  // In `from a, b join c on …` the join sees b (the last FROM item) and earlier joins, not a.
  const joinable = froms.slice(-1)
  const joins: Join[] = []
  for (const j of q.joins) {
    const { join, part } = r.join(j, joinable)
    joins.push(join)
    parts.push(part)
    joinable.push(part)
  }
  const scope = parts.flatMap((p) => p.scope)
  const where = q.where ? r.pred(q.where, scope) : undefined
  const scalar = q.scalar ? r.sub(q.scalar, scope, 'int', true) : undefined
  const output = q.agg
    ? {
        o: 'aggregate' as const,
        groupBy: [...new Set(q.agg.groupBy.map((n) => pick(scope, n).ref))],
        ...(q.agg.sum === null ? {} : { sum: pick(sameType(scope, 'int'), q.agg.sum).ref }),
        ...(q.agg.having === null ? {} : { havingMoreThan: q.agg.having }),
      }
    : { o: 'rows' as const, columns: scope.map((c) => c.ref), distinct: q.distinct, ...(scalar ? { scalar } : {}) }
  const compoundWhere = q.compound?.where ? r.pred(q.compound.where, scope) : undefined
  const compound = q.compound ? { op: pick(COMPOUNDS, q.compound.op), ...(compoundWhere ? { where: compoundWhere } : {}) } : undefined
  return { kind: 'select', with: ctes, from: froms.map((f) => f.source), joins, ...(where ? { where } : {}), output, ...(compound ? { compound } : {}) }
}

function resolve(q: RawQuery, columns: Columns): QuerySpec {
  const r = new Resolver(columns)
  if (q.k === 'select') return resolveSelect(r, q)
  const ctes = r.ctes(q.ctes, false)
  const table = pick(TENANT_TABLES, q.table)
  switch (q.k) {
    case 'update': {
      const as = r.alias('u')
      const from = q.from ? r.source(q.from, 't') : undefined
      const joined = from && q.join ? r.join({ ...q.join, kind: dmlJoinKind(q.join.kind), lateral: false }, [from]) : undefined
      const scope = [...scopeOf(as, r.columns[table]), ...(from?.scope ?? []), ...(joined?.part.scope ?? [])]
      const set: SetItem[] = []
      // SET sees the target only: when a target row joins several FROM rows, PostgreSQL
      // updates it from any one of them, so a value taken from FROM would be unpredictable.
      for (const s of q.set) {
        const item = r.setItem(s, table, scopeOf(as, r.columns[table]))
        if (!set.some((x) => x.column === item.column)) set.push(item)
      }
      const where = q.where ? r.pred(q.where, scope) : undefined
      const returning = q.returning ? r.columns[table].map((c) => `${as}.${c.name}`) : []
      return { kind: 'update', with: ctes, table, as, set, ...(from ? { from: from.source } : {}), ...(joined ? { join: joined.join } : {}), ...(where ? { where } : {}), returning }
    }
    case 'delete': {
      const as = r.alias('d')
      const using = q.using ? r.source(q.using, 't') : undefined
      const joined = using && q.join ? r.join({ ...q.join, kind: dmlJoinKind(q.join.kind), lateral: false }, [using]) : undefined
      const scope = [...scopeOf(as, r.columns[table]), ...(using?.scope ?? []), ...(joined?.part.scope ?? [])]
      const where = q.where ? r.pred(q.where, scope) : undefined
      const returning = q.returning ? r.columns[table].map((c) => `${as}.${c.name}`) : []
      return { kind: 'delete', with: ctes, table, as, ...(using ? { using: using.source } : {}), ...(joined ? { join: joined.join } : {}), ...(where ? { where } : {}), returning }
    }
    case 'insert':
      return resolveInsert(r, q, ctes, table)
  }
}

/** UPDATE ... FROM and DELETE ... USING take inner, left, right and full joins. */
const dmlJoinKind = (kind: JoinKind): JoinKind => (kind === 'cross' ? 'inner' : kind)

function resolveInsert(r: Resolver, q: Extract<RawQuery, { k: 'insert' }>, ctes: Cte[], table: TenantTableName): InsertSpec {
  const from = q.mode === 7 ? undefined : r.source(q.from, 't')
  const scope = from?.scope ?? []
  const columns = r.columns[table].filter((c) => c.name !== 'tenant_id')
  const values = columns.map((c, i): InsertValue => {
    if (c.name === 'id') return from ? { plus: from.scope[0]?.ref ?? 'missing', n: 1000 } : { value: 5000 }
    const literals = LITERALS[c.type].slice(0, 2)
    const fits = (s: ScopeColumn) => s.type === c.type && (c.nullable || !NULLABLE.has(s.ref.slice(s.ref.indexOf('.') + 1)))
    const rawSub = q.subs[i % q.subs.length]
    // count() is never NULL; max() and sum() may be, so they go to nullable columns only.
    const sub = c.type === 'int' && rawSub ? r.sub(rawSub, scope, 'int', true) : undefined
    const choices: InsertValue[] = [
      ...scope.filter(fits).map((s) => ({ ref: s.ref })),
      ...(sub ? [{ sub: c.nullable ? sub : { ...sub, agg: 'count' as const } }] : []),
      ...literals.map((value) => ({ value, cast: c.type })),
      ...literals.map((value) => ({ value })),
    ]
    return pick(choices, q.picks[i] ?? 0)
  })
  const where = from && q.where ? r.pred(q.where, scope) : undefined
  const unionWhere = from && q.mode === 6 ? (q.unionWhere ? r.pred(q.unionWhere, scope) : { p: 'cmp' as const, col: from.scope[0]?.ref ?? 'missing', op: '>' as const, value: 0 }) : undefined
  return {
    kind: 'insert', with: ctes, table, columns: columns.map((c) => c.name), values,
    ...(from ? { from: from.source } : {}),
    ...(where ? { where } : {}),
    ...(unionWhere ? { unionWhere } : {}),
  }
}

/**
 * Random queries of every kind, resolved against the fuzz schema: with the tenant
 * column (shared model), or without it (schema and database models, whose tables
 * have none; no query then names `tenant_id` or compares a uuid).
 */
export function querySpecs(options: { readonly tenantColumn: boolean }): fc.Arbitrary<QuerySpec> {
  const columns = columnsOf(options.tenantColumn)
  return rawQuery.map((q) => resolve(q, columns))
}

/** Random queries over the shared model's tables (with `tenant_id`). */
export const querySpec: fc.Arbitrary<QuerySpec> = querySpecs({ tenantColumn: true })

/** True when running the spec writes (its effects are rolled back). */
export function writes(spec: QuerySpec): boolean {
  return spec.kind !== 'select' || spec.with.some((c) => c.c === 'dml')
}
