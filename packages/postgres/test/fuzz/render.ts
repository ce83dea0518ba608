/**
 * Turns a QuerySpec into a Kysely query. The same function builds the query for
 * the scoped instance (the plugin and RLS walls under test) and for the plain
 * oracle instance, so the two differ only by what Tenantry adds.
 */
// `any`: the fuzzer builds queries over a schema it describes at run time.
import type { AliasableExpression, CompiledQuery, Expression, ExpressionBuilder, JoinBuilder, Kysely, SqlBool } from 'kysely'
import type { Cte, InsertSpec, InsertValue, Join, Pred, QuerySpec, SelectSpec, SetItem, Source, Sub } from './spec.ts'

type Db = Kysely<any>
type Eb = ExpressionBuilder<any, any>
const SQL_TYPES = { int: 'integer', text: 'text', bool: 'boolean', uuid: 'uuid' } as const

/** What the fuzzer does with a built query: run it, or show its SQL. */
export interface BuiltQuery {
  execute(): Promise<unknown[]>
  compile(): CompiledQuery
}

/** `alias.column` → `alias__column`, the output name of a selected column. */
export const outputName = (ref: string): string => ref.replace('.', '__')

function pred(eb: Eb, p: Pred): Expression<SqlBool> {
  switch (p.p) {
    case 'cmp':
      return eb(eb.ref(p.col), p.op, p.value)
    case 'cols':
      return eb(eb.ref(p.left), p.op, eb.ref(p.right))
    case 'null':
      return eb(eb.ref(p.col), p.not ? 'is not' : 'is', null)
    case 'and':
      return eb.and(p.items.map((item) => pred(eb, item)))
    case 'or':
      return eb.or(p.items.map((item) => pred(eb, item)))
    case 'not':
      return eb.not(pred(eb, p.item))
    case 'in':
      return eb(eb.ref(p.col), p.not ? 'not in' : 'in', subquery(eb, p.sub))
    case 'exists': {
      const exists = eb.exists(subquery(eb, p.sub))
      return p.not ? eb.not(exists) : exists
    }
    case 'scalar':
      return eb(eb.ref(p.col), p.op, subquery(eb, p.sub))
  }
}

function where<Q extends { where(f: (eb: Eb) => Expression<SqlBool>): Q }>(query: Q, p: Pred | undefined): Q {
  return p === undefined ? query : query.where((eb: Eb) => pred(eb, p))
}

function subquery(eb: Eb, sub: Sub) {
  const query: any = eb.selectFrom(source(sub.from) as any).select((inner: Eb) => {
    if (sub.agg === 'count') return inner.fn.count(inner.ref(sub.select)).as('v')
    if (sub.agg === 'max') return inner.fn.max(inner.ref(sub.select)).as('v')
    if (sub.agg === 'sum') return inner.fn.sum(inner.ref(sub.select)).as('v')
    return inner.ref(sub.select).as('v')
  })
  const filtered = where(query, sub.where)
  return sub.limit === undefined ? filtered : filtered.orderBy(sub.select).limit(sub.limit)
}

/** A table/CTE reference (bare when unaliased), or a derived-table factory. */
function source(s: Source): string | ((eb: Eb) => unknown) {
  if (s.s === 'ref') return s.as === s.name ? s.name : `${s.name} as ${s.as}`
  return (eb: Eb) => {
    let inner: any = where(eb.selectFrom(`${s.name} as ${s.inner}`).selectAll() as any, s.where)
    if (s.limit) {
      for (const column of s.limit.orderBy) inner = inner.orderBy(column)
      inner = inner.limit(s.limit.n)
    }
    return inner.as(s.as)
  }
}

function setValues(eb: Eb, as: string, items: readonly SetItem[]): Record<string, unknown> {
  return Object.fromEntries(
    items.map((s) => [s.column, 'add' in s ? eb(eb.ref(`${as}.${s.column}`), '+', s.add) : 'count' in s ? subquery(eb, s.count) : s.value]),
  )
}

function cteBody(qc: Db, cte: Cte): unknown {
  switch (cte.c) {
    case 'select':
      return where(qc.selectFrom(`${cte.from} as ${cte.inner}`).select(cte.columns.map((c) => `${cte.inner}.${c}`)) as any, cte.where)
    case 'dml': {
      const returning = cte.columns.map((c) => `${cte.inner}.${c}`)
      if (cte.dml === 'delete') return where(qc.deleteFrom(`${cte.table} as ${cte.inner}`) as any, cte.where).returning(returning)
      const set = cte.set
      const update: any = qc.updateTable(`${cte.table} as ${cte.inner}`).set((eb: Eb) => setValues(eb, cte.inner, set ? [set] : []))
      return where(update, cte.where).returning(returning)
    }
    case 'walk': {
      const start: any = qc
        .selectFrom(`${cte.from} as ${cte.inner}`)
        .select((eb: Eb) => [eb.ref(`${cte.inner}.${cte.start}`).as('node'), eb.ref(`${cte.inner}.${cte.next}`).as('next'), eb.lit(0).as('depth')])
      return where(start, cte.where).unionAll((eb: Eb) =>
        eb
          .selectFrom('walk')
          .innerJoin(`${cte.step} as ${cte.stepInner}`, `${cte.stepInner}.${cte.stepColumn}`, 'walk.next')
          .select((e: Eb) => [e.ref(`${cte.stepInner}.id`).as('node'), e.ref(`${cte.stepInner}.${cte.stepNext}`).as('next'), e(e.ref('walk.depth'), '+', 1).as('depth')])
          .where('walk.depth', '<', 2),
      )
    }
  }
}

function withCtes(db: Db, ctes: readonly Cte[]): Db {
  let creator: any = db
  for (const cte of ctes) {
    creator = cte.c === 'walk' ? creator.withRecursive('walk(node, next, depth)', (qc: Db) => cteBody(qc, cte)) : creator.with(cte.name, (qc: Db) => cteBody(qc, cte))
  }
  return creator as Db
}

function joinAll(query: any, joins: readonly Join[]): any {
  for (const join of joins) {
    const on = join.on
    const table = source(join.source)
    const callback = (j: JoinBuilder<any, any>) => (on ? j.on((eb: Eb) => pred(eb, on)) : j.onTrue())
    if (join.kind === 'cross') query = join.lateral ? query.crossJoinLateral(table) : query.crossJoin(table)
    else if (join.kind === 'inner') query = join.lateral ? query.innerJoinLateral(table, callback) : query.innerJoin(table, callback)
    else if (join.kind === 'left') query = join.lateral ? query.leftJoinLateral(table, callback) : query.leftJoin(table, callback)
    else if (join.kind === 'right') query = query.rightJoin(table, callback)
    else query = query.fullJoin(table, callback)
  }
  return query
}

function selectQuery(db: Db, spec: SelectSpec): any {
  let query: any = where(joinAll(withCtes(db, spec.with).selectFrom(spec.from.map(source) as any), spec.joins), spec.where)
  const output = spec.output
  if (output.o === 'rows') {
    const scalar = output.scalar
    query = query.select((eb: Eb) => [...output.columns.map((c) => eb.ref(c).as(outputName(c))), ...(scalar ? [subquery(eb, scalar).as('scalar')] : [])])
    if (output.distinct) query = query.distinct()
  } else {
    query = query.select((eb: Eb) => [
      ...output.groupBy.map((c) => eb.ref(c).as(outputName(c))),
      eb.fn.countAll().as('n'),
      ...(output.sum ? [eb.fn.sum(eb.ref(output.sum)).as('s')] : []),
    ])
    if (output.groupBy.length > 0) query = query.groupBy(output.groupBy)
    const having = output.havingMoreThan
    if (having !== undefined) query = query.having((eb: Eb) => eb(eb.fn.countAll(), '>', having))
  }
  const compound = spec.compound
  if (compound === undefined) return query
  const { compound: _, where: __, ...rest } = spec
  const other: SelectSpec = { ...rest, with: [], ...(compound.where ? { where: compound.where } : {}) }
  return query[compound.op]((eb: Eb) => selectQuery(eb as unknown as Db, other))
}

function insertValue(e: Eb, v: InsertValue): AliasableExpression<unknown> {
  if ('ref' in v) return e.ref(v.ref)
  if ('plus' in v) return e(e.ref(v.plus), '+', v.n)
  if ('sub' in v) return subquery(e, v.sub)
  return v.cast === undefined ? e.val(v.value) : e.cast(e.val(v.value), SQL_TYPES[v.cast])
}

function insertQuery(db: Db, spec: InsertSpec, tenantIdForOracle: string | undefined): BuiltQuery {
  const columns = tenantIdForOracle === undefined ? [...spec.columns] : [...spec.columns, 'tenant_id']
  const oracleTenant = (e: Eb) => (tenantIdForOracle === undefined ? [] : [e.cast(e.val(tenantIdForOracle), 'uuid').as('tenant_id')])
  const into = withCtes(db, spec.with).insertInto(spec.table)
  const from = spec.from
  if (from === undefined) {
    return into
      .values((e: Eb) => Object.fromEntries([...spec.columns.map((c, i) => [c, insertValue(e, spec.values[i] ?? { value: 0 })]), ...oracleTenant(e).map((t) => ['tenant_id', t.expression])]))
      .returningAll() as unknown as BuiltQuery
  }
  const branch = (eb: Eb, condition: Pred | undefined) =>
    where(
      eb.selectFrom(source(from) as any).select((e: Eb) => [...spec.values.map((v, i) => insertValue(e, v).as(spec.columns[i] ?? `c${i}`)), ...oracleTenant(e)]) as any,
      condition,
    )
  const unionWhere = spec.unionWhere
  return into
    .columns(columns)
    .expression((eb: Eb) => (unionWhere === undefined ? branch(eb, spec.where) : branch(eb, spec.where).union((e: Eb) => branch(e, unionWhere))))
    .returningAll() as unknown as BuiltQuery
}

/**
 * Builds `spec` on `db`. For the oracle, `tenantIdForOracle` supplies the tenant
 * column of an INSERT ... SELECT, which Tenantry fills in on the scoped side.
 */
export function buildQuery(db: Db, spec: QuerySpec, tenantIdForOracle?: string): BuiltQuery {
  const returning = (query: any, columns: readonly string[]) => (columns.length > 0 ? query.returning(columns.map((c) => `${c} as ${outputName(c)}`)) : query)
  switch (spec.kind) {
    case 'select':
      return selectQuery(db, spec) as BuiltQuery
    case 'insert':
      return insertQuery(db, spec, tenantIdForOracle)
    case 'update': {
      let query: any = withCtes(db, spec.with).updateTable(`${spec.table} as ${spec.as}`).set((eb: Eb) => setValues(eb, spec.as, spec.set))
      if (spec.from) query = query.from(source(spec.from))
      if (spec.join) query = joinAll(query, [spec.join])
      return returning(where(query, spec.where), spec.returning) as BuiltQuery
    }
    case 'delete': {
      let query: any = withCtes(db, spec.with).deleteFrom(`${spec.table} as ${spec.as}`)
      if (spec.using) query = query.using(source(spec.using))
      if (spec.join) query = joinAll(query, [spec.join])
      return returning(where(query, spec.where), spec.returning) as BuiltQuery
    }
  }
}
