import type { PhysicalConnection, ResolvedDatabaseKey } from './contract.ts'

/** Why the router closed a connection. The first three also name why a database's pool went away. */
export type CloseReason = 'idle' | 'lru' | 'budget' | 'broken' | 'destroyed' | 'evicted' | 'router-closed'

/** One connection the router holds, with where it is in its life. */
export class PooledConnection {
  readonly pool: DatabasePool
  readonly physical: PhysicalConnection
  state: 'idle' | 'busy' | 'closing' = 'busy'
  /** The client reported an error or ended: close it instead of reusing it. */
  broken = false
  /** Close it when it comes back (the database was evicted while it was out). */
  retire = false
  idleTimer: NodeJS.Timeout | undefined
  readonly closed: Promise<void>
  readonly markClosed: () => void

  constructor(pool: DatabasePool, physical: PhysicalConnection) {
    this.pool = pool
    this.physical = physical
    let markClosed!: () => void
    this.closed = new Promise<void>((resolve) => {
      markClosed = resolve
    })
    this.markClosed = markClosed
  }
}

/**
 * The router's bookkeeping for one tenant database: its idle connections
 * (a stack: the most recently used is reused first, so surplus ones age out),
 * the ones checked out, and counts of those opening, closing and queued for.
 * Holds no logic about the budget; PoolRouter does that.
 */
export class DatabasePool {
  readonly key: ResolvedDatabaseKey
  readonly id: string
  /** Most connections this database may hold. */
  readonly max: number
  readonly idle: PooledConnection[] = []
  readonly busy = new Set<PooledConnection>()
  /** Connect calls in flight. */
  opening = 0
  /** Opens that wait for a permit handed over by a connection being reclaimed. */
  reserved = 0
  /** Connections closing (they still hold their permit). */
  closing = 0
  /** Acquires queued for this database. */
  waiters = 0

  constructor(key: ResolvedDatabaseKey, id: string, max: number) {
    this.key = key
    this.id = id
    this.max = max
  }

  /** Connections ready for use or in use. */
  get established(): number {
    return this.idle.length + this.busy.size
  }

  /** Permits this database holds: connections opening, established or closing. */
  get held(): number {
    return this.opening + this.established + this.closing
  }

  /**
   * Whether one more connection may be opened. Until one connection is
   * established, only one connect is tried at a time: a missing or unreachable
   * database then costs one attempt and one permit, not `max` of them.
   */
  canOpen(): boolean {
    const cap = this.established === 0 ? 1 : this.max
    return this.held + this.reserved < cap
  }

  /** Nothing checked out, opening or queued: the pool may be closed as a whole. */
  get quiet(): boolean {
    return this.busy.size === 0 && this.opening === 0 && this.reserved === 0 && this.waiters === 0
  }

  /** Only closing connections left: on its way out, not counted as an open pool. */
  get draining(): boolean {
    return this.quiet && this.idle.length === 0 && this.closing > 0
  }

  /** Holds nothing at all. */
  get empty(): boolean {
    return this.quiet && this.idle.length === 0 && this.closing === 0
  }

  /** Takes a connection out of the idle stack or the checked-out set. */
  detach(connection: PooledConnection): void {
    const at = this.idle.indexOf(connection)
    if (at >= 0) this.idle.splice(at, 1)
    this.busy.delete(connection)
  }
}
