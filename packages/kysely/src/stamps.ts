import type { OperationNode } from 'kysely'

/**
 * The stamp of a query compiled in a system scope (no tenant filter applied).
 *
 * @example
 * const compiled = await runAsSystem('report', () => db.selectFrom('projects').selectAll().compile())
 * tenantStampOf(compiled.query) === SYSTEM_STAMP // true
 */
export const SYSTEM_STAMP: unique symbol = Symbol.for('tenantry.kysely.system-stamp')

interface StampStore {
  /** Transformed root node -> the tenant it was scoped to, or SYSTEM_STAMP. */
  readonly stamps: WeakMap<object, string | typeof SYSTEM_STAMP>
  /**
   * Transformed node -> the node it was made from. Kysely runs plugins on a
   * sub-builder when it is embedded (`where('id', 'in', db.selectFrom(...))`), so
   * an outer query can contain a node the plugin already scoped, possibly for
   * another scope. Starting again from the original keeps the predicates single
   * and bound to the scope the outer query is compiled in.
   */
  readonly originals: WeakMap<object, OperationNode>
}

// Kept on globalThis so that two copies of this module (two installs, or source and
// dist both loaded) agree: the driver may check a stamp set by the other copy.
const STORE_KEY = Symbol.for('tenantry.kysely.stamps')
const holder = globalThis as typeof globalThis & { [STORE_KEY]?: StampStore }
const store: StampStore = (holder[STORE_KEY] ??= { stamps: new WeakMap(), originals: new WeakMap() })

/**
 * The scope a root query node was compiled for by `TenantScopePlugin`: the tenant
 * id, `SYSTEM_STAMP` for a system scope, or undefined when the plugin did not see
 * it. A driver checks it against the current scope before running a
 * `CompiledQuery`, so a query compiled for tenant A cannot run for tenant B.
 *
 * @example
 * const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
 * tenantStampOf(compiled.query) === acme.id // true
 */
export function tenantStampOf(node: object): string | typeof SYSTEM_STAMP | undefined {
  return store.stamps.get(node)
}

/** Records the scope of a root node the plugin returns, and the node it came from. */
export function stampNode<T extends OperationNode>(node: T, stamp: string | typeof SYSTEM_STAMP, original: OperationNode): T {
  store.stamps.set(node, stamp)
  if (node !== original) store.originals.set(node, original)
  return node
}

/** The node the plugin built `node` from, or `node` itself if the plugin did not make it. */
export function originalOf<T extends OperationNode>(node: T): T {
  // A node and its original always share a kind: plugins must return the kind they get.
  return (store.originals.get(node) as T | undefined) ?? node
}
