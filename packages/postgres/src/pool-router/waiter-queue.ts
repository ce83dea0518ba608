import type { RoutedClient } from './contract.ts'
import type { DatabasePool } from './database-pool.ts'

/** An acquire queued for a connection of `pool`. */
export interface Waiter {
  readonly pool: DatabasePool
  readonly resolve: (client: RoutedClient | Promise<RoutedClient>) => void
  readonly reject: (error: unknown) => void
  timer: NodeJS.Timeout | undefined
}

/**
 * The acquires waiting for a connection, oldest first (a Set iterates in
 * insertion order and deletes in O(1)). Each gives up after its timeout.
 */
export class WaiterQueue {
  readonly #waiters = new Set<Waiter>()

  get size(): number {
    return this.#waiters.size
  }

  /** Queues an acquire; `onTimeout` runs if nothing serves it within `timeoutMs`. */
  enqueue(pool: DatabasePool, timeoutMs: number, onTimeout: (waiter: Waiter) => void): Promise<RoutedClient> {
    return new Promise<RoutedClient>((resolve, reject) => {
      const waiter: Waiter = { pool, resolve, reject, timer: undefined }
      waiter.timer = setTimeout(() => {
        this.remove(waiter)
        onTimeout(waiter)
      }, timeoutMs)
      this.#waiters.add(waiter)
      pool.waiters += 1
    })
  }

  /** Takes a waiter out of the queue (served, failed or timed out). */
  remove(waiter: Waiter): void {
    if (!this.#waiters.delete(waiter)) return
    clearTimeout(waiter.timer)
    waiter.pool.waiters -= 1
  }

  /** Removes and rejects every waiter `which` selects. */
  rejectWhere(which: (waiter: Waiter) => boolean, error: unknown): void {
    for (const waiter of this.#waiters) {
      if (!which(waiter)) continue
      this.remove(waiter)
      waiter.reject(error)
    }
  }

  /** Oldest first; removing the current waiter while iterating is safe. */
  [Symbol.iterator](): IterableIterator<Waiter> {
    return this.#waiters.values()
  }
}
