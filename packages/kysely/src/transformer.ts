import {
  ListNode,
  OperationNodeTransformer,
  type CommonTableExpressionNode,
  type DeleteQueryNode,
  type InsertQueryNode,
  type JoinNode,
  type MergeQueryNode,
  type OperationNode,
  type QueryId,
  type RawNode,
  type SelectQueryNode,
  type UpdateQueryNode,
  type WhereNode,
  type WithNode,
} from 'kysely'
import { assertTenantColumnKept, scopeInsert } from './insert-scoping.ts'
import { scopeLevel } from './join-scoping.ts'
import { TenantPredicates } from './predicates.ts'
import { refuseQuery } from './refusal.ts'
import { originalOf } from './stamps.ts'
import { tenantTableOf, type TableRefRole, type TenantTableRules } from './table-refs.ts'
import { trustCopy } from './trusted.ts'

/** Every property of a node, optional ones included, so a new Kysely field is a compile error. */
type AllProps<T> = { [K in keyof Required<T>]: undefined extends T[K] ? T[K] | undefined : T[K] }

/** The parts of a SELECT / UPDATE / DELETE that the tenant predicates change. */
interface FilteredParts {
  readonly joins?: ReadonlyArray<JoinNode>
  readonly where?: WhereNode
}

/** A level's table sources before classification. */
interface LevelSources {
  readonly targets: readonly OperationNode[]
  readonly fromItems: readonly OperationNode[]
  readonly fromRole: TableRefRole
}

/**
 * Rewrites one query for one tenant. The per-query state (tenant id, the CTE names
 * in lexical scope) lives only for the duration of one synchronous `scope()` call:
 * set at its start, cleared at its end. Building a Kysely transformer costs more
 * than scoping a point select (it binds ~90 node handlers), so the plugin reuses
 * one instance and makes a fresh one only if a transform ever re-enters.
 *
 * Every SELECT, UPDATE, DELETE and INSERT node is scoped where it stands: at the
 * root, in CTE bodies, derived tables, joins, set operations, and expressions
 * (WHERE, HAVING, the select list, VALUES, RETURNING, ON CONFLICT).
 */
export class TenantScopeTransformer extends OperationNodeTransformer {
  readonly #rules: TenantTableRules
  #predicates: TenantPredicates | undefined
  /** Unqualified CTE names visible at the node being transformed. */
  #ctes: ReadonlySet<string> = NO_CTES
  /**
   * The statement has no query nested anywhere (the common point select, update,
   * delete): only its own level needs predicates, so its children are kept as they
   * are instead of copied node by node. Kysely nodes are immutable, so sharing them
   * is safe; it saves most of the plugin's cost per query.
   */
  #flat = false

  constructor(rules: TenantTableRules) {
    super()
    this.#rules = rules
  }

  /** True while a `scope()` call is running on this instance. */
  get busy(): boolean {
    return this.#predicates !== undefined
  }

  /**
   * Rewrites `node` for `tenantId`. Synchronous; the state is gone when it returns.
   * `nested`: whether a query, CTE or raw fragment stands below the root, when the
   * caller's own walk already knows (`inspectStatement`); found by a walk otherwise.
   */
  scope<T extends OperationNode>(node: T, tenantId: string, queryId?: QueryId, nested?: boolean): T {
    this.#predicates = new TenantPredicates(this.#rules.tenantColumn, tenantId)
    this.#ctes = NO_CTES
    this.#flat = nested === undefined ? isFlatStatement(node) : !nested && STATEMENT_KINDS.has(node.kind)
    try {
      return this.transformNode(node, queryId)
    } finally {
      this.#predicates = undefined
      this.#ctes = NO_CTES
      this.#flat = false
    }
  }

  get #tenant(): TenantPredicates {
    if (this.#predicates === undefined) throw new Error('TenantScopeTransformer used outside scope()')
    return this.#predicates
  }

  protected override transformSelectQuery(node: SelectQueryNode, queryId?: QueryId): SelectQueryNode {
    const source = originalOf(node)
    return this.#inQueryScope(source.with, queryId, (withNode) => {
      const out = this.#flat ? source : super.transformSelectQuery({ ...source, with: undefined }, queryId)
      const scoped = this.#scopeLevel(out, { targets: [], fromItems: out.from?.froms ?? [], fromRole: 'source' })
      // A new node always (never the original, whose stamp another compile may set), spread only when WITH changed.
      return scoped !== source && scoped.with === withNode ? scoped : { ...scoped, with: withNode }
    })
  }

  protected override transformUpdateQuery(node: UpdateQueryNode, queryId?: QueryId): UpdateQueryNode {
    const source = originalOf(node)
    return this.#inQueryScope(source.with, queryId, (withNode) => {
      const out = this.#flat ? source : super.transformUpdateQuery({ ...source, with: undefined }, queryId)
      // `updateTable(['a', 'b'])` (MySQL) puts several targets in a ListNode.
      const targets = out.table === undefined ? [] : ListNode.is(out.table) ? out.table.items : [out.table]
      if (targets.some((target) => this.#tenantTable(target, 'dml-target') !== undefined)) {
        assertTenantColumnKept(out.updates, this.#rules)
      }
      const scoped = this.#scopeLevel(out, { targets, fromItems: out.from?.froms ?? [], fromRole: 'source' })
      return scoped !== source && scoped.with === withNode ? scoped : { ...scoped, with: withNode }
    })
  }

  protected override transformDeleteQuery(node: DeleteQueryNode, queryId?: QueryId): DeleteQueryNode {
    const source = originalOf(node)
    return this.#inQueryScope(source.with, queryId, (withNode) => {
      const out = this.#flat ? source : super.transformDeleteQuery({ ...source, with: undefined }, queryId)
      const using = out.using?.tables
      // With USING, joins attach to the USING list and the targets stand apart;
      // without it (`delete from a join b`), the targets start the join tree.
      const sources: LevelSources = using === undefined
        ? { targets: [], fromItems: out.from.froms, fromRole: 'dml-target' }
        : { targets: out.from.froms, fromItems: using, fromRole: 'source' }
      const scoped = this.#scopeLevel(out, sources)
      return scoped !== source && scoped.with === withNode ? scoped : { ...scoped, with: withNode }
    })
  }

  protected override transformInsertQuery(node: InsertQueryNode, queryId?: QueryId): InsertQueryNode {
    const source = originalOf(node)
    return this.#inQueryScope(source.with, queryId, (withNode) => {
      const out = super.transformInsertQuery({ ...source, with: undefined }, queryId)
      const table = out.into === undefined ? undefined : this.#tenantTable(out.into, 'dml-target')
      const scoped = table === undefined ? out : scopeInsert(out, table, this.#rules, this.#tenant)
      return scoped !== source && scoped.with === withNode ? scoped : { ...scoped, with: withNode }
    })
  }

  protected override transformMergeQuery(_node: MergeQueryNode): MergeQueryNode {
    return refuseQuery('MERGE cannot be scoped to the tenant; use INSERT ... ON CONFLICT, UPDATE and DELETE')
  }

  /** Keeps a trusted raw fragment trusted after the copy (FROM items are classified after recursion). */
  protected override transformRaw(node: RawNode, queryId?: QueryId): RawNode {
    const out = super.transformRaw(node, queryId)
    trustCopy(node, out)
    return out
  }

  /**
   * CTE visibility: in a plain WITH, a CTE's body sees the CTEs before it; in WITH
   * RECURSIVE, every CTE of the list sees all of them (itself included).
   */
  protected override transformWith(node: WithNode, queryId?: QueryId): WithNode {
    const names = node.expressions.map(cteName)
    const expressions = node.expressions.map((cte, index) =>
      this.#withCtes(node.recursive === true ? names : names.slice(0, index), () => this.transformNode(cte, queryId)),
    )
    return { kind: 'WithNode', expressions, recursive: node.recursive } satisfies AllProps<WithNode>
  }

  /** Transforms a query's WITH in the outer scope, then its body with the CTEs visible. */
  #inQueryScope<T>(withNode: WithNode | undefined, queryId: QueryId | undefined, body: (scopedWith: WithNode | undefined) => T): T {
    if (withNode === undefined) return body(undefined)
    const scopedWith = this.transformNode(withNode, queryId)
    return this.#withCtes(withNode.expressions.map(cteName), () => body(scopedWith))
  }

  #withCtes<T>(names: readonly string[], fn: () => T): T {
    const outer = this.#ctes
    this.#ctes = names.length === 0 ? outer : new Set([...outer, ...names])
    try {
      return fn()
    } finally {
      this.#ctes = outer
    }
  }

  #tenantTable(node: OperationNode, role: TableRefRole) {
    return tenantTableOf(node, this.#rules, this.#ctes, role)
  }

  /** Adds the tenant predicates of one level to its joins and WHERE. */
  #scopeLevel<T extends FilteredParts>(node: T, sources: LevelSources): T {
    // Classify even when not filtering: raw SQL in table position is refused either way.
    const targets = sources.targets.map((target) => this.#tenantTable(target, 'dml-target'))
    const fromItems = sources.fromItems.map((item) => this.#tenantTable(item, sources.fromRole))
    const joins = (node.joins ?? []).map((join) => ({ node: join, tenantTable: this.#tenantTable(join.table, 'source') }))
    if (!this.#rules.filter) return node
    const scoped = scopeLevel({ targets, fromItems, joins, where: node.where }, this.#tenant)
    return { ...node, joins: node.joins === undefined ? undefined : scoped.joins, where: scoped.where }
  }
}

const NO_CTES: ReadonlySet<string> = new Set()

const STATEMENT_KINDS: ReadonlySet<string> = new Set(['SelectQueryNode', 'UpdateQueryNode', 'DeleteQueryNode'])
const NESTING_KINDS: ReadonlySet<string> = new Set(['SelectQueryNode', 'InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode', 'WithNode', 'RawNode'])

/**
 * A SELECT, UPDATE or DELETE with no query, CTE or raw fragment below its root.
 * A read-only walk: it allocates nothing but its stack.
 */
function isFlatStatement(root: OperationNode): boolean {
  if (!STATEMENT_KINDS.has(root.kind)) return false
  const stack: unknown[] = []
  for (const value of Object.values(root)) if (typeof value === 'object' && value !== null) stack.push(value)
  while (stack.length > 0) {
    const item = stack.pop() as Record<string, unknown> | unknown[]
    if (Array.isArray(item)) {
      for (const child of item) if (typeof child === 'object' && child !== null) stack.push(child)
      continue
    }
    const kind = item.kind
    if (typeof kind === 'string' && NESTING_KINDS.has(kind)) return false
    if (kind === 'ValueNode' || kind === 'PrimitiveValueListNode') continue
    for (const key in item) {
      const value = item[key]
      if (typeof value === 'object' && value !== null) stack.push(value)
    }
  }
  return true
}

function cteName(cte: CommonTableExpressionNode): string {
  return cte.name.table.table.identifier.name
}
