/**
 * Change events of the catalog, fired after each change commits, so caches in
 * this process (and, through `redisTenantInvalidation`, in every instance) drop
 * what the change made stale.
 */
import type { TenantChange } from '@tenantry/core'

/** Called after a catalog change committed. Errors and rejections are reported as process warnings, never thrown. */
export type CatalogChangeListener = (change: TenantChange) => void | Promise<void>

export class CatalogChangeEmitter {
  readonly #listeners = new Set<CatalogChangeListener>()

  add(listener: CatalogChangeListener): () => void {
    if (typeof listener !== 'function') throw new TypeError('catalog.onChange(listener) needs a function')
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /**
   * Tells every listener and waits for them, so a caller that awaited the catalog
   * write knows the invalidation went out. A failing listener cannot undo the
   * committed change: it becomes a process warning.
   */
  async emit(change: TenantChange): Promise<void> {
    if (this.#listeners.size === 0) return
    const frozen = Object.freeze({ ...change, domains: change.domains === undefined ? undefined : Object.freeze([...change.domains]) })
    await Promise.all(
      [...this.#listeners].map(async (listener) => {
        try {
          await listener(frozen)
        } catch (error) {
          process.emitWarning(`A catalog change listener failed (${change.kind} of ${change.tenantId}): ${String(error)}`, 'TenantryCatalogChangeWarning')
        }
      }),
    )
  }
}
