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
 * Throws QUERY_REFUSED if any table reference in the tree names a schema. In the
 * schema-per-tenant model the tenant's schema comes from search_path alone; a
 * qualified name (`withSchema`, `'tenant_x.projects'`) could reach another
 * tenant's schema.
 */
export function refuseSchemaQualifiedNames(node: OperationNode): void {
  const stack: unknown[] = [node]
  while (stack.length > 0) {
    const item = stack.pop()
    if (Array.isArray(item)) {
      for (const child of item) stack.push(child)
      continue
    }
    if (typeof item !== 'object' || item === null) continue
    const candidate = item as { kind?: unknown; schema?: { name?: unknown } }
    if (candidate.kind === 'SchemableIdentifierNode' && candidate.schema !== undefined) {
      refuseQuery(`A schema-qualified name ("${String(candidate.schema.name)}") cannot be used by a tenant placed in its own schema; the schema comes from the tenant's search_path`)
    }
    if (candidate.kind === 'ValueNode' || candidate.kind === 'PrimitiveValueListNode') continue
    for (const value of Object.values(item)) if (typeof value === 'object' && value !== null) stack.push(value)
  }
}
