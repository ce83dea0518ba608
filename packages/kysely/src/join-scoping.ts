import { JoinNode, WhereNode, type JoinType, type OperationNode, type TableNode } from 'kysely'
import { conjoin, type TenantPredicates } from './predicates.ts'
import { refuseQuery } from './refusal.ts'

/** One join of a query level, with its table already classified. */
export interface ClassifiedJoin {
  readonly node: JoinNode
  /** The qualifier of the joined tenant table; undefined for other tables and subqueries. */
  readonly tenantTable: TableNode | undefined
}

/**
 * The table sources of one query level (a SELECT, UPDATE or DELETE, not its
 * subqueries), each classified: a qualifier for a tenant table, undefined otherwise.
 */
export interface QueryLevel {
  /** UPDATE / DELETE targets: outside the join tree, always filtered in WHERE. */
  readonly targets: readonly (TableNode | undefined)[]
  /** FROM (or USING) items in order; joins attach to the last one. */
  readonly fromItems: readonly (TableNode | undefined)[]
  readonly joins: readonly ClassifiedJoin[]
  readonly where: WhereNode | undefined
}

export interface ScopedLevel {
  readonly joins: readonly JoinNode[]
  readonly where: WhereNode | undefined
}

/** How a join treats its sides, as far as the tenant predicates are concerned. */
type JoinShape = 'cross' | 'inner' | 'left' | 'right' | 'full' | 'outer-apply'

// A Record over JoinType: a join type added to Kysely is a compile error here until
// it is placed. `undefined` means refused.
const joinShapes: Record<JoinType, JoinShape | undefined> = {
  InnerJoin: 'inner',
  LeftJoin: 'left',
  RightJoin: 'right',
  FullJoin: 'full',
  CrossJoin: 'cross',
  LateralInnerJoin: 'inner',
  LateralLeftJoin: 'left',
  LateralCrossJoin: 'cross',
  CrossApply: 'cross',
  OuterApply: 'outer-apply',
  // MERGE's USING clause; MERGE is refused as a whole.
  Using: undefined,
}

/** A table of the level with where its predicate goes. */
interface Placement {
  readonly table: TableNode
  /** The predicate goes in WHERE (otherwise some ON clause carries it). */
  whereFilter: boolean
  /** An outer join may have padded this table's columns with nulls. */
  nullable: boolean
}

/**
 * Adds the tenant predicates of one level, preserving the query's meaning as long
 * as the tenant column is NOT NULL:
 *
 * - FROM item, CROSS JOIN: strict predicate in WHERE.
 * - INNER JOIN r: strict(r) in its ON.
 * - LEFT JOIN r: strict(r) in its ON (r's unmatched rows stay null-padded).
 * - RIGHT JOIN r: strict(r) and, for every table x already on the left, strict(x)
 *   or, if x may be null-padded, tolerant(x), in its ON; x leaves WHERE, r goes to WHERE.
 * - FULL JOIN r: the same ON, and every table of both sides goes to WHERE tolerant.
 *
 * In SQL, `FROM a, b JOIN c` joins c to b only, so the left side of a join starts
 * at the last FROM item; earlier FROM items and DML targets stay in WHERE.
 */
export function scopeLevel(level: QueryLevel, predicates: TenantPredicates): ScopedLevel {
  const placements: Placement[] = []
  const place = (table: TableNode | undefined, whereFilter: boolean, nullable: boolean): Placement | undefined => {
    if (table === undefined) return undefined
    const placement: Placement = { table, whereFilter, nullable }
    placements.push(placement)
    return placement
  }
  for (const target of level.targets) place(target, true, false)
  const lastFrom = level.fromItems.length - 1
  let leftSide: Placement[] = []
  level.fromItems.forEach((item, index) => {
    const placement = place(item, true, false)
    if (index === lastFrom && placement) leftSide = [placement]
  })

  const joins = level.joins.map(function scopeJoin({ node, tenantTable }): JoinNode {
    const shape = joinShapes[node.joinType]
    if (shape === undefined) refuseQuery(`a ${node.joinType} join cannot be scoped to the tenant`)
    const onPredicates: OperationNode[] = []
    const own = tenantTable === undefined ? [] : [predicates.strict(tenantTable)]
    let joined: Placement | undefined
    switch (shape) {
      case 'cross':
        joined = place(tenantTable, true, false)
        break
      case 'inner':
        onPredicates.push(...own)
        joined = place(tenantTable, false, false)
        break
      case 'left':
        onPredicates.push(...own)
        joined = place(tenantTable, false, true)
        break
      case 'outer-apply':
        if (tenantTable !== undefined) refuseQuery('OUTER APPLY of a tenant table has no ON clause to carry its tenant predicate; use a LEFT JOIN')
        break
      case 'right':
        onPredicates.push(...own, ...leftSide.map((x) => (x.nullable ? predicates.tolerant(x.table) : predicates.strict(x.table))))
        for (const x of leftSide) {
          x.whereFilter = false
          x.nullable = true
        }
        joined = place(tenantTable, true, false)
        break
      case 'full':
        onPredicates.push(...own, ...leftSide.map((x) => (x.nullable ? predicates.tolerant(x.table) : predicates.strict(x.table))))
        for (const x of leftSide) {
          x.whereFilter = true
          x.nullable = true
        }
        joined = place(tenantTable, true, true)
        break
    }
    if (joined) leftSide.push(joined)
    if (onPredicates.length === 0) return node
    const on = conjoin(node.on?.on, onPredicates)
    return on === undefined ? node : JoinNode.createWithOn(node.joinType, node.table, on)
  })

  const wherePredicates = placements
    .filter((p) => p.whereFilter)
    .map((p) => (p.nullable ? predicates.tolerant(p.table) : predicates.strict(p.table)))
  const where = conjoin(level.where?.where, wherePredicates)
  return {
    joins,
    where: where === undefined ? undefined : where === level.where?.where ? level.where : WhereNode.create(where),
  }
}
