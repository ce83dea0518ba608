/**
 * Turns a leak-fuzzer QuerySpec (packages/postgres/test/fuzz/spec.ts) into a
 * Drizzle query: `select()/selectDistinct()` with every join kind (lateral ones
 * included), subqueries through `.as()`, CTEs through `$with()` + `with()`,
 * `count()/max()/sum()`, `groupBy/having`, `union/unionAll/intersect/except`,
 * `update().set().from().join().where()`, `delete().where()`,
 * `insert().values()` and `insert().select()`, with `returning()`.
 *
 * The same function builds the query for the scoped instance and for the
 * oracle's, so the two differ only by where their statements run.
 *
 * Where Drizzle's builder has no construct (or one that prints wrong SQL), the
 * spec goes through `sql` inside the builder or through an equivalent form:
 * - WITH RECURSIVE: Drizzle has none. The `walk` CTE (depth ≤ 2) is unrolled
 *   into `start UNION ALL step(start) UNION ALL step(step(start))`, the rows
 *   the recursion produces, built with the builder and handed to
 *   `$with(name, columns).as(sql)`.
 * - DELETE … USING: Drizzle has none; `delete … where exists (select 1 from
 *   using join … where …)` deletes the same rows.
 * - An aliased DELETE target: Drizzle prints `delete from "alias"` (the table
 *   name lost), so the target is the table itself. A subquery in its WHERE
 *   that reads the same table unaliased then captures the target's column
 *   references: another query than the spec meant (about 1 in 3,000), but the
 *   same one on both sides.
 * - Two FROM items followed by a RIGHT or FULL join: `from a, b right join c`
 *   is not `a cross join b right join c`, so the FROM list is a `sql` fragment
 *   (with a cross join otherwise, which is the same).
 * - An aliased CTE reference (`from recent as t3`): Drizzle aliases tables
 *   only, so it is `(select … from recent) as t3`.
 * - Arithmetic (`points + 1`), casts, literal constants, a scalar subquery as a
 *   value, and the aliases of output expressions: `sql` templates.
 * - UNION & co. under a WITH: Drizzle puts the WITH inside the left operand's
 *   parentheses, out of the right one's sight, so the set operation goes in a
 *   derived table under the WITH.
 */
// `any`: the fuzzer builds queries over relations it learns at run time; Drizzle's types want them at compile time.
import {
  and, count, eq, exists, getTableColumns, gt, gte, inArray, isNotNull, isNull, lt, lte, max, ne, not, notExists, notInArray, or, sql, sum, type SQL,
} from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { outputName } from '../../../postgres/test/fuzz/render.ts'
import type { TableName } from '../../../postgres/test/fuzz/schema.ts'
import type { Cmp, Cte, DeleteSpec, InsertSpec, InsertValue, Join, Output, Pred, QuerySpec, SelectSpec, SetItem, Source, Sub, UpdateSpec } from '../../../postgres/test/fuzz/spec.ts'
import { walkShape, type FuzzTables } from './tables.ts'

/** A drizzle() database or transaction: what the fuzzer builds on. */
export type DrizzleDb = any
/** A query Drizzle can run, prepare and print. */
export interface DrizzleQuery {
  execute(): Promise<unknown>
  prepare(name: string): { execute(): Promise<unknown> }
  toSQL(): { sql: string; params: unknown[] }
}

const CMP: Readonly<Record<Cmp, (left: any, right: any) => SQL>> = { '=': eq, '<>': ne, '<': lt, '>': gt, '<=': lte, '>=': gte }
const SQL_TYPES = { int: 'integer', text: 'text', bool: 'boolean', uuid: 'uuid' } as const

/** A FROM item: what `.from()` or a join takes, the same in a `sql` FROM list, and its columns by name. */
interface Relation {
  readonly from: any
  readonly sql: SQL
  readonly columns: any
}

/** How output columns are selected: as they are, through `sql` (a FROM that is a `sql` fragment), or aliased (inside a derived table). */
type FieldMode = 'plain' | 'sql' | 'aliased'

/** One spec's rendering: the CTEs defined so far, and every alias it has given a relation. */
class SpecRenderer {
  readonly #db: DrizzleDb
  readonly #tables: FuzzTables
  readonly #ctes = new Map<string, any>()
  readonly #aliases = new Map<string, any>()

  constructor(db: DrizzleDb, tables: FuzzTables) {
    this.#db = db
    this.#tables = tables
  }

  /** `alias.column` as a Drizzle column (or field of a subquery or CTE). */
  col(ref: string): any {
    const dot = ref.indexOf('.')
    const relation = this.#aliases.get(ref.slice(0, dot))
    const column = relation?.[ref.slice(dot + 1)]
    if (column === undefined) throw new Error(`the spec names ${ref}, which nothing in scope has`)
    return column
  }

  pred(p: Pred): SQL {
    switch (p.p) {
      case 'cmp':
        return CMP[p.op](this.col(p.col), p.value)
      case 'cols':
        return CMP[p.op](this.col(p.left), this.col(p.right))
      case 'null':
        return p.not ? isNotNull(this.col(p.col)) : isNull(this.col(p.col))
      case 'and':
        return and(...p.items.map((item) => this.pred(item))) as SQL
      case 'or':
        return or(...p.items.map((item) => this.pred(item))) as SQL
      case 'not':
        return not(this.pred(p.item))
      case 'in':
        return (p.not ? notInArray : inArray)(this.col(p.col), this.subquery(p.sub))
      case 'exists':
        return (p.not ? notExists : exists)(this.subquery(p.sub))
      case 'scalar':
        return CMP[p.op](this.col(p.col), this.subquery(p.sub))
    }
  }

  where(p: Pred | undefined): SQL | undefined {
    return p === undefined ? undefined : this.pred(p)
  }

  subquery(sub: Sub): any {
    const from = this.source(sub.from)
    const column = this.col(sub.select)
    const field = sub.agg === 'count' ? count(column) : sub.agg === 'max' ? max(column) : sub.agg === 'sum' ? sum(column) : column
    const query = this.#db.select({ v: field }).from(from.from).where(this.where(sub.where))
    return sub.limit === undefined ? query : query.orderBy(column).limit(sub.limit)
  }

  /** A table or CTE by name, under an alias: `alias()` for a table, a derived table over a CTE. */
  #named(name: string, as: string): Relation {
    const cte = this.#ctes.get(name)
    if (cte !== undefined) {
      if (as === name) return { from: cte, sql: sql`${sql.identifier(name)}`, columns: cte }
      const wrapped = this.#db.select().from(cte).as(as)
      return { from: wrapped, sql: sql`${wrapped}`, columns: wrapped }
    }
    const table = this.#tables.read[name as TableName]
    if (table === undefined) throw new Error(`no table or CTE named ${name}`)
    if (as === name) return { from: table, sql: sql`${sql.identifier(name)}`, columns: table }
    const aliased = alias(table, as)
    return { from: aliased, sql: sql`${sql.identifier(name)} ${sql.identifier(as)}`, columns: aliased }
  }

  #register(as: string, relation: Relation): Relation {
    this.#aliases.set(as, relation.columns)
    return relation
  }

  source(s: Source): Relation {
    if (s.s === 'ref') return this.#register(s.as, this.#named(s.name, s.as))
    const inner = this.#register(s.inner, this.#named(s.name, s.inner))
    let query = this.#db.select().from(inner.from).where(this.where(s.where))
    if (s.limit) query = query.orderBy(...s.limit.orderBy.map((c) => this.col(c))).limit(s.limit.n)
    const derived = query.as(s.as)
    return this.#register(s.as, { from: derived, sql: sql`${derived}`, columns: derived })
  }

  /** An UPDATE target: always the table (a CTE of its name does not shadow it there). */
  #target(table: TableName, as: string): any {
    const target = alias(this.#tables.read[table], as)
    this.#aliases.set(as, target)
    return target
  }

  setValues(target: any, items: readonly SetItem[]): Record<string, unknown> {
    return Object.fromEntries(items.map((s) => [
      s.column,
      'add' in s ? sql`${target[s.column]} + ${s.add}` : 'count' in s ? sql`${this.subquery(s.count)}` : s.value,
    ]))
  }

  cte(c: Cte): any {
    switch (c.c) {
      case 'select': {
        const inner = this.#register(c.inner, this.#named(c.from, c.inner))
        const body = this.#db.select(Object.fromEntries(c.columns.map((name) => [name, inner.columns[name]]))).from(inner.from).where(this.where(c.where))
        return this.#db.$with(c.name).as(body)
      }
      case 'dml': {
        if (c.dml === 'update') {
          const target = this.#target(c.table, c.inner)
          const update = this.#db.update(target).set(this.setValues(target, c.set ? [c.set] : [])).where(this.where(c.where))
          return this.#db.$with(c.name).as(update.returning(fieldsOf(target, c.columns)))
        }
        const target = this.#tables.read[c.table]
        this.#aliases.set(c.inner, target)
        return this.#db.$with(c.name).as(this.#db.delete(target).where(this.where(c.where)).returning(fieldsOf(target, c.columns)))
      }
      case 'walk':
        return this.#walk(c)
    }
  }

  /** The recursive walk, unrolled: its rows at depth 0, 1 and 2 (see the file comment). */
  #walk(c: Extract<Cte, { c: 'walk' }>): any {
    const db = this.#db
    const start = () => {
      const inner = alias(this.#tables.read[c.from as TableName], c.inner) as any
      this.#aliases.set(c.inner, inner)
      return db
        .select({ node: sql`${inner[c.start]}`.as('node'), next: sql`${inner[c.next]}`.as('next'), depth: sql`0`.as('depth') })
        .from(inner)
        .where(this.where(c.where))
    }
    const step = (previous: any) => {
      const s = alias(this.#tables.read[c.step as TableName], c.stepInner) as any
      return db
        .select({ node: sql`${s.id}`.as('node'), next: sql`${s[c.stepNext]}`.as('next'), depth: sql`${previous.depth} + 1`.as('depth') })
        .from(previous)
        .innerJoin(s, eq(s[c.stepColumn], previous.next))
        .where(lt(previous.depth, 2))
    }
    const depth1 = () => step(start().as('walk_0'))
    const depth2 = () => step(depth1().as('walk_1'))
    const rows = start().unionAll(depth1()).unionAll(depth2())
    const walk = db.$with(c.name, { node: walkShape.node, next: walkShape.next, depth: walkShape.depth }).as(rows.getSQL())
    return walk
  }

  /** Defines the spec's CTEs in order (each sees those before it) and returns the builder that puts them in a WITH. */
  withCtes(ctes: readonly Cte[]): DrizzleDb {
    const defined = ctes.map((c) => {
      const cte = this.cte(c)
      this.#ctes.set(c.name, cte)
      return cte
    })
    return defined.length === 0 ? this.#db : this.#db.with(...defined)
  }

  #outputFields(output: Output, mode: FieldMode): Record<string, unknown> {
    const field = (key: string, value: any, column: boolean) =>
      mode === 'aliased' ? sql`${value}`.as(key) : mode === 'sql' && column ? sql`${value}`.mapWith(value) : value
    if (output.o === 'rows') {
      const scalar = output.scalar
      return Object.fromEntries([
        ...output.columns.map((c) => [outputName(c), field(outputName(c), this.col(c), true)]),
        ...(scalar ? [['scalar', mode === 'aliased' ? sql`${this.subquery(scalar)}`.as('scalar') : sql`${this.subquery(scalar)}`]] : []),
      ])
    }
    return Object.fromEntries([
      ...output.groupBy.map((c) => [outputName(c), field(outputName(c), this.col(c), true)]),
      ['n', mode === 'aliased' ? count().as('n') : count()],
      ...(output.sum ? [['s', mode === 'aliased' ? sum(this.col(output.sum)).as('s') : sum(this.col(output.sum))]] : []),
    ])
  }

  /** The SELECT without its WITH and set operation. */
  #selectCore(base: DrizzleDb, spec: SelectSpec, mode: FieldMode): any {
    const froms = spec.from.map((s) => this.source(s))
    const joined = spec.joins.map((join) => ({ join, relation: this.source(join.source) }))
    const commaList = froms.length > 1 && spec.joins.some((j) => j.kind === 'right' || j.kind === 'full')
    const fields = this.#outputFields(spec.output, commaList && mode === 'plain' ? 'sql' : mode)
    const distinct = spec.output.o === 'rows' && spec.output.distinct
    let query = distinct ? base.selectDistinct(fields) : base.select(fields)
    const [first, second] = froms as [Relation, Relation | undefined]
    query = commaList && second ? query.from(sql`${first.sql}, ${second.sql}`) : query.from(first.from)
    if (second && !commaList) query = query.crossJoin(second.from)
    for (const { join, relation } of joined) query = this.#join(query, join, relation)
    query = query.where(this.where(spec.where))
    const output = spec.output
    if (output.o === 'aggregate') {
      if (output.groupBy.length > 0) query = query.groupBy(...output.groupBy.map((c) => this.col(c)))
      if (output.havingMoreThan !== undefined) query = query.having(gt(count(), output.havingMoreThan))
    }
    return query
  }

  #join(query: any, join: Join, relation: Relation): any {
    const on = join.on === undefined ? sql`true` : this.pred(join.on)
    switch (join.kind) {
      case 'cross':
        return join.lateral ? query.crossJoinLateral(relation.from) : query.crossJoin(relation.from)
      case 'inner':
        return join.lateral ? query.innerJoinLateral(relation.from, on) : query.innerJoin(relation.from, on)
      case 'left':
        return join.lateral ? query.leftJoinLateral(relation.from, on) : query.leftJoin(relation.from, on)
      case 'right':
        return query.rightJoin(relation.from, on)
      case 'full':
        return query.fullJoin(relation.from, on)
    }
  }

  select(spec: SelectSpec): DrizzleQuery {
    const base = this.withCtes(spec.with)
    const compound = spec.compound
    if (compound === undefined) return this.#selectCore(base, spec, 'plain')
    const { compound: _, where: __, ...rest } = spec
    const other: SelectSpec = { ...rest, with: [], ...(compound.where ? { where: compound.where } : {}) }
    if (spec.with.length === 0) return this.#selectCore(this.#db, spec, 'plain')[compound.op](this.#selectCore(this.#db, other, 'plain'))
    const both = this.#selectCore(this.#db, spec, 'aliased')[compound.op](this.#selectCore(this.#db, other, 'aliased')).as('compound')
    return base.select().from(both)
  }

  update(spec: UpdateSpec): DrizzleQuery {
    const base = this.withCtes(spec.with)
    const target = this.#target(spec.table, spec.as)
    const from = spec.from ? this.source(spec.from) : undefined
    const joined = spec.join ? { join: spec.join, relation: this.source(spec.join.source) } : undefined
    let query = base.update(target).set(this.setValues(target, spec.set))
    if (from) query = query.from(from.from)
    if (joined) query = this.#join(query, joined.join, joined.relation)
    query = query.where(this.where(spec.where))
    return this.#returning(query, spec.returning)
  }

  delete(spec: DeleteSpec): DrizzleQuery {
    const base = this.withCtes(spec.with)
    const target = this.#tables.read[spec.table]
    this.#aliases.set(spec.as, target)
    if (spec.using === undefined) return this.#returning(base.delete(target).where(this.where(spec.where)), spec.returning)
    const using = this.source(spec.using)
    const joined = spec.join ? { join: spec.join, relation: this.source(spec.join.source) } : undefined
    let rows = this.#db.select({ one: sql`1` }).from(using.from)
    if (joined) rows = this.#join(rows, joined.join, joined.relation)
    const where = exists(rows.where(this.where(spec.where)))
    return this.#returning(base.delete(target).where(where), spec.returning)
  }

  #returning(query: any, columns: readonly string[]): DrizzleQuery {
    return columns.length === 0 ? query : query.returning(Object.fromEntries(columns.map((c) => [outputName(c), this.col(c)])))
  }

  #insertValue(v: InsertValue, inSelect: boolean): unknown {
    if ('ref' in v) return this.col(v.ref)
    if ('plus' in v) return sql`${this.col(v.plus)} + ${v.n}`
    if ('sub' in v) return sql`${this.subquery(v.sub)}`
    if (v.cast !== undefined) return sql`cast(${v.value} as ${sql.raw(SQL_TYPES[v.cast])})`
    return inSelect ? sql`${v.value}` : v.value
  }

  insert(spec: InsertSpec): DrizzleQuery {
    const base = this.withCtes(spec.with)
    const into = this.#tables.insert[spec.table]
    const returned = this.#tables.read[spec.table]
    const row = (inSelect: boolean) => Object.fromEntries(spec.columns.map((c, i) => [c, this.#insertValue(spec.values[i] ?? { value: 0 }, inSelect)]))
    const from = spec.from
    if (from === undefined) return base.insert(into).values(row(false)).returning(getTableColumns(returned))
    const source = this.source(from)
    const branch = (qb: any, condition: Pred | undefined) => qb.select(row(true)).from(source.from).where(this.where(condition))
    const unionWhere = spec.unionWhere
    return base
      .insert(into)
      .select((qb: any) => (unionWhere === undefined ? branch(qb, spec.where) : branch(qb, spec.where).union(branch(qb, unionWhere))))
      .returning(getTableColumns(returned))
  }
}

/** `{ column: relation.column }` for each name: Drizzle names a returned or CTE column after the column. */
function fieldsOf(relation: any, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, relation[name]]))
}

/** Builds `spec` as a Drizzle query on `db` (a database or a transaction), over the model's tables. */
export function buildDrizzleQuery(db: DrizzleDb, spec: QuerySpec, tables: FuzzTables): DrizzleQuery {
  const renderer = new SpecRenderer(db, tables)
  switch (spec.kind) {
    case 'select':
      return renderer.select(spec)
    case 'update':
      return renderer.update(spec)
    case 'delete':
      return renderer.delete(spec)
    case 'insert':
      return renderer.insert(spec)
  }
}
