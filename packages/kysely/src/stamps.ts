import type { CompiledQuery, OperationNode, QueryCompiler, QueryId, RootOperationNode } from 'kysely'

/**
 * The stamp of a query compiled in a system scope (no tenant filter applied).
 *
 * @example
 * const compiled = await runAsSystem('report', () => db.selectFrom('projects').selectAll().compile())
 * compiledStampOf(compiled)?.scope === SYSTEM_STAMP // true
 */
export const SYSTEM_STAMP: unique symbol = Symbol.for('tenantry.kysely.system-stamp')

/**
 * What the plugin recorded of one compile: the scope it was built for, and
 * whether it holds SQL the plugin cannot see into (a raw fragment, or a call to a
 * function not known to be free of side effects), which could change the
 * connection's session state (`set_config(…, false)`, advisory locks). A driver
 * resets such a connection before it serves anyone else.
 *
 * @example
 * const stamp: QueryStamp = { scope: acme.id, opaque: false }
 */
export interface QueryStamp {
  readonly scope: string | typeof SYSTEM_STAMP
  readonly opaque: boolean
}

interface StampStore {
  /** Transformed root node -> the scope it was built for. */
  readonly stamps: WeakMap<object, QueryStamp>
  /**
   * Transformed node -> the node it was made from. Kysely runs plugins on a
   * sub-builder when it is embedded (`where('id', 'in', db.selectFrom(...))`), so
   * an outer query can contain a node the plugin already scoped, possibly for
   * another scope. Starting again from the original keeps the predicates single
   * and bound to the scope the outer query is compiled in.
   */
  readonly originals: WeakMap<object, OperationNode>
  /** CompiledQuery -> the stamp of the node it was compiled from, by the stamping compiler. */
  readonly compiled: WeakMap<object, QueryStamp>
}

// Kept on globalThis so that two copies of this module (two installs, or source and
// dist both loaded) agree: the driver may check a stamp set by the other copy.
const STORE_KEY = Symbol.for('tenantry.kysely.stamps.v2')
const holder = globalThis as typeof globalThis & { [STORE_KEY]?: StampStore }
const store: StampStore = (holder[STORE_KEY] ??= { stamps: new WeakMap(), originals: new WeakMap(), compiled: new WeakMap() })

/**
 * The scope a root query node was compiled for by `TenantScopePlugin`: the tenant
 * id, `SYSTEM_STAMP` for a system scope, or undefined when the plugin did not see
 * it. A stamp on the node says what the plugin built; what a driver may run is
 * decided by `compiledStampOf`, which also covers the SQL text and parameters.
 *
 * @example
 * const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
 * tenantStampOf(compiled.query) === acme.id // true
 */
export function tenantStampOf(node: object): string | typeof SYSTEM_STAMP | undefined {
  return store.stamps.get(node)?.scope
}

/** Records the scope of a root node the plugin returns, and the node it came from. */
export function stampNode<T extends OperationNode>(node: T, stamp: QueryStamp, original: OperationNode): T {
  store.stamps.set(node, stamp)
  if (node !== original) store.originals.set(node, original)
  return node
}

/** The node the plugin built `node` from, or `node` itself if the plugin did not make it. */
export function originalOf<T extends OperationNode>(node: T): T {
  // A node and its original always share a kind: plugins must return the kind they get.
  return (store.originals.get(node) as T | undefined) ?? node
}

/**
 * The stamp of a `CompiledQuery` exactly as the stamping compiler produced it:
 * the object itself is recorded (Kysely freezes it) and its parameter list is
 * frozen, so a copy with other SQL or other parameters (`{ ...compiled, sql }`)
 * has no stamp, and the parameters cannot be swapped in place. Undefined for a
 * query the plugin did not scope, or one built or changed by hand.
 *
 * @example
 * const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
 * compiledStampOf(compiled)?.scope === acme.id         // true
 * compiledStampOf({ ...compiled, sql: 'select 1' })    // undefined
 */
export function compiledStampOf(compiled: CompiledQuery): QueryStamp | undefined {
  return store.compiled.get(compiled)
}

/**
 * A query compiler that records, for every query the tenant plugin stamped, the
 * compiled object it returns (see `compiledStampOf`). Tenantry's dialect wraps
 * its PostgreSQL compiler in it; any dialect can.
 *
 * @example
 * class MyDialect extends PostgresDialect {
 *   override createQueryCompiler() { return new StampingQueryCompiler(super.createQueryCompiler()) }
 * }
 */
export class StampingQueryCompiler implements QueryCompiler {
  readonly #inner: QueryCompiler

  constructor(inner: QueryCompiler) {
    this.#inner = inner
  }

  compileQuery(node: RootOperationNode, queryId: QueryId): CompiledQuery {
    const compiled = this.#inner.compileQuery(node, queryId)
    const stamp = store.stamps.get(node)
    if (stamp !== undefined) {
      Object.freeze(compiled.parameters)
      // Kysely freezes the compiled query; a compiler that does not gets it frozen here.
      if (!Object.isFrozen(compiled)) Object.freeze(compiled)
      store.compiled.set(compiled, stamp)
    }
    return compiled
  }
}
