import { AliasNode, IdentifierNode, RawNode, TableNode, type OperationNode } from 'kysely'
import { refuseQuery } from './refusal.ts'
import { isTrusted } from './trusted.ts'

/** The tenant tables and column of one plugin, resolved from its options. */
export interface TenantTableRules {
  /** Unqualified names of the tenant tables. */
  readonly tables: ReadonlySet<string>
  readonly tenantColumn: string
  /** false: RLS-only mode, no predicates (values and refusals still apply). */
  readonly filter: boolean
}

/** Where a table reference stands, which decides whether a CTE can shadow it. */
export type TableRefRole = 'source' | 'dml-target'

/**
 * If `item` (a FROM / JOIN / USING item or a DML target) is a tenant table, the
 * table node its predicates are qualified by: the alias when aliased, otherwise
 * the table as written (schema included). Undefined for anything else: other
 * tables, CTE references, derived tables and functions (whose insides the
 * transformer scopes by recursion).
 *
 * A source whose unqualified name is a visible CTE reads the CTE, not the table.
 * The target of INSERT / UPDATE / DELETE is always a real table in PostgreSQL, so
 * CTEs never shadow it. Raw SQL in table position is refused unless trusted: the
 * plugin cannot see which table it reads.
 */
export function tenantTableOf(item: OperationNode, rules: TenantTableRules, ctes: ReadonlySet<string>, role: TableRefRole): TableNode | undefined {
  if (TableNode.is(item)) return isTenantTable(item, rules, ctes, role) ? item : undefined
  if (AliasNode.is(item)) {
    if (RawNode.is(item.node)) return refuseUntrustedRaw(item.node)
    if (!TableNode.is(item.node) || !isTenantTable(item.node, rules, ctes, role)) return undefined
    if (!IdentifierNode.is(item.alias)) refuseQuery('a tenant table aliased by an expression cannot be qualified; alias it with a plain name')
    return TableNode.create(item.alias.name)
  }
  if (RawNode.is(item)) return refuseUntrustedRaw(item)
  return undefined
}

function isTenantTable(table: TableNode, rules: TenantTableRules, ctes: ReadonlySet<string>, role: TableRefRole): boolean {
  const name = table.table.identifier.name
  const shadowedByCte = role === 'source' && table.table.schema === undefined && ctes.has(name)
  return !shadowedByCte && rules.tables.has(name)
}

function refuseUntrustedRaw(node: RawNode): undefined {
  if (!isTrusted(node)) {
    refuseQuery('raw SQL used as a table cannot be scoped to the tenant; use the query builder, or wrap the sql`` in trusted() once reviewed')
  }
  return undefined
}
