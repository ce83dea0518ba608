import type { OperationNode } from 'kysely'
import { refuseQuery } from './refusal.ts'

/**
 * Root node kinds that change the schema. Tenant code never needs them, and they
 * can outlive the transaction on a pooled connection: a temporary table created in
 * one tenant's scope would shadow a real table for the next tenant served on the
 * same connection. DDL belongs in migrations or a system scope.
 */
const SCHEMA_CHANGES: ReadonlySet<string> = new Set([
  'CreateTableNode', 'CreateViewNode', 'CreateIndexNode', 'CreateSchemaNode', 'CreateTypeNode',
  'DropTableNode', 'DropViewNode', 'DropIndexNode', 'DropSchemaNode', 'DropTypeNode',
  'AlterTableNode', 'RefreshMaterializedViewNode',
])

/** Throws QUERY_REFUSED for DDL at the root of a tenant query. */
export function refuseSchemaChange(node: OperationNode): void {
  if (SCHEMA_CHANGES.has(node.kind)) {
    refuseQuery(`${node.kind.replace(/Node$/, '')} cannot run in a tenant scope (a temporary or changed object would outlive the transaction on a pooled connection); run schema changes in migrations or runAsSystem()`)
  }
}

/**
 * Throws QUERY_REFUSED if any name in the tree is qualified by a schema not in
 * `allowed`. Where tenants have schemas of their own, a qualified name
 * (`withSchema`, `'tenant_x.projects'`) could reach another tenant's schema.
 */
export function refuseSchemaQualifiedNames(node: OperationNode, allowed: readonly string[]): void {
  const stack: unknown[] = [node]
  while (stack.length > 0) {
    const item = stack.pop()
    if (Array.isArray(item)) {
      for (const child of item) stack.push(child)
      continue
    }
    if (typeof item !== 'object' || item === null) continue
    const candidate = item as { kind?: unknown; schema?: { name?: unknown } }
    if (candidate.kind === 'SchemableIdentifierNode' && candidate.schema !== undefined && !allowed.includes(String(candidate.schema.name))) {
      refuseQuery(`The schema-qualified name "${String(candidate.schema.name)}" is not allowed in this tenant's queries (it could reach another tenant's schema); use unqualified names${allowed.length ? ` or the schema${allowed.length > 1 ? 's' : ''} ${allowed.map((a) => `"${a}"`).join(', ')}` : ''}`)
    }
    if (candidate.kind === 'ValueNode' || candidate.kind === 'PrimitiveValueListNode') continue
    for (const value of Object.values(item)) if (typeof value === 'object' && value !== null) stack.push(value)
  }
}
