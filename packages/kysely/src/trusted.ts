import { RawNode, type OperationNode, type RawBuilder } from 'kysely'
import { TenantryError } from '@tenantry/core'

// On globalThis for the same reason as the stamps: two loaded copies must agree.
const TRUSTED_KEY = Symbol.for('tenantry.kysely.trusted')
const holder = globalThis as typeof globalThis & { [TRUSTED_KEY]?: WeakSet<object> }
const trustedNodes: WeakSet<object> = (holder[TRUSTED_KEY] ??= new WeakSet())

/**
 * Marks a raw SQL builder as reviewed for tenant safety, so `TenantScopePlugin`
 * lets it run in a tenant scope (as a whole statement, or as a table in FROM/JOIN).
 * The plugin cannot read raw SQL: a trusted fragment must scope itself (or rely on
 * RLS). Trust belongs to this builder object only; a new `sql` template is
 * untrusted again. Returns the same builder.
 *
 * @example
 * const refresh = trusted(sql`refresh materialized view concurrently project_stats`)
 * await runWithTenant(acme, () => refresh.execute(db))
 */
export function trusted<O>(builder: RawBuilder<O>): RawBuilder<O> {
  // With no executor, RawBuilder.toOperationNode() returns its stored RawNode: the
  // very object the plugin receives when the builder is executed or embedded.
  const node: OperationNode = builder.toOperationNode()
  if (!RawNode.is(node)) {
    throw new TenantryError('VALIDATION_FAILED', 'trusted() takes a raw SQL builder (sql`...`)', {
      details: [{ path: 'builder', message: `produced a ${node.kind}, not a RawNode` }],
    })
  }
  trustedNodes.add(node)
  return builder
}

/** Extends trust to a copy of a trusted node (the transformer copies every node it visits). */
export function trustCopy(original: OperationNode, copy: OperationNode): void {
  if (trustedNodes.has(original)) trustedNodes.add(copy)
}

/** True when `node` came from a builder passed to `trusted()`. */
export function isTrusted(node: OperationNode): boolean {
  return trustedNodes.has(node)
}
