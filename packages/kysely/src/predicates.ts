import {
  AndNode,
  BinaryOperationNode,
  ColumnNode,
  OperatorNode,
  OrNode,
  ParensNode,
  ReferenceNode,
  ValueNode,
  type OperationNode,
  type TableNode,
} from 'kysely'

/** Strict predicates of recent tenants and tables (nodes are immutable, so one serves every query). */
const strictPredicates = new Map<string, BinaryOperationNode>()
const STRICT_PREDICATES_MAX = 4096

/**
 * Builds the tenant predicates of one transform: `t.tenant_id = $tenant` (strict)
 * and `(t.tenant_id = $tenant or t.tenant_id is null)` (tolerant, for a table an
 * outer join may have padded with nulls).
 */
export class TenantPredicates {
  readonly tenantColumn: string
  readonly tenantId: string

  constructor(tenantColumn: string, tenantId: string) {
    this.tenantColumn = tenantColumn
    this.tenantId = tenantId
  }

  /** The tenant id as a query parameter. */
  value(): ValueNode {
    return ValueNode.create(this.tenantId)
  }

  /** `<table>.<tenant column>`, qualified by alias or (schema-qualified) table name. */
  column(table: TableNode): ReferenceNode {
    return ReferenceNode.create(ColumnNode.create(this.tenantColumn), table)
  }

  strict(table: TableNode): BinaryOperationNode {
    // Kysely nodes are immutable: the same tenant's predicate on the same table is built once.
    const key = `${this.tenantColumn}\u0000${this.tenantId}\u0000${table.table.schema?.name ?? ''}\u0000${table.table.identifier.name}`
    let predicate = strictPredicates.get(key)
    if (predicate === undefined) {
      predicate = BinaryOperationNode.create(this.column(table), OperatorNode.create('='), this.value())
      if (strictPredicates.size >= STRICT_PREDICATES_MAX) strictPredicates.delete(strictPredicates.keys().next().value as string)
      strictPredicates.set(key, predicate)
    }
    return predicate
  }

  tolerant(table: TableNode): ParensNode {
    const isNull = BinaryOperationNode.create(this.column(table), OperatorNode.create('is'), ValueNode.createImmediate(null))
    return ParensNode.create(OrNode.create(this.strict(table), isNull))
  }
}

/**
 * `(existing) and p1 and p2 ...`. The existing condition goes in parentheses so an
 * `a or b` in it cannot swallow the tenant predicates. With nothing to add, the
 * existing condition comes back untouched.
 */
export function conjoin(existing: OperationNode | undefined, predicates: readonly OperationNode[]): OperationNode | undefined {
  let result: OperationNode | undefined = existing === undefined || ParensNode.is(existing) ? existing : ParensNode.create(existing)
  if (predicates.length === 0) return existing
  for (const predicate of predicates) result = result === undefined ? predicate : AndNode.create(result, predicate)
  return result
}
