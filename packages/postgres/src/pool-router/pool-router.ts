import { TenantryError } from '@tenantry/core'
import type { PostgresBackend } from '../driver/target.ts'
import { ConnectionBudget } from './budget.ts'
import {
  databaseId,
  describeKey,
  resolveDatabaseKey,
  type DatabaseKey,
  type PhysicalConnection,
  type ResolvedDatabaseKey,
  type RoutedClient,
} from './contract.ts'
import { DatabasePool, PooledConnection, type CloseReason } from './database-pool.ts'
import { FailureMemory, connectFailure } from './failures.ts'
import { resolvePoolRouterOptions, type PoolRouterOptions, type ResolvedPoolRouterOptions } from './options.ts'
import { newCounters, snapshot, type PoolRouterStats } from './stats.ts'
import { WaiterQueue, type Waiter } from './waiter-queue.ts'

function routerClosed(): TenantryError {
  return new TenantryError('INTERNAL', 'The PoolRouter is closed.')
}

/**
 * Hands out connections to many tenant databases (one database per tenant, on
 * one or several servers, or one PGlite instance each) under one global
 * connection budget.
 *
 * - A database gets a pool on first use; concurrent first acquires share it, and
 *   until its first connection is up only one connect is tried.
 * - Every connection holds a permit of the budget from the start of its connect
 *   to the end of its close, so the open connections never exceed `budget`.
 *   With the budget full, an acquire closes the longest-idle connection of
 *   another database and takes its permit; if none is idle it queues (FIFO)
 *   until a connection comes back or `acquireTimeoutMs` passes
 *   (CONNECTION_BUDGET_EXHAUSTED). A connection given back goes first to the
 *   oldest queued acquire it can serve: directly if for the same database,
 *   else by closing and handing its permit over.
 * - Idle connections close after `idleTimeoutMs`; a database whose last
 *   connection closed loses its pool. Beyond `maxPools`, the least recently
 *   used database with nothing checked out is closed.
 * - A missing database fails with TENANT_PLACEMENT_MISSING, an unreachable one
 *   with TENANT_DATABASE_UNAVAILABLE; its permit goes back, its queued acquires
 *   fail too, and for `failureBackoffMs` it (or its whole server, when the
 *   server is down) fails at once; after that the next acquire retries.
 *
 * @example
 * const router = new PoolRouter({
 *   databases: serverDatabases({ default: { host: '127.0.0.1', user: 'app' } }),
 *   budget: 50,
 * })
 * const rows = await router.withClient({ database: 'tenant_initech' }, async (client) =>
 *   (await client.query('select count(*) from projects')).rows)
 * await router.close()
 */
export class PoolRouter {
  readonly #options: ResolvedPoolRouterOptions
  readonly #budget: ConnectionBudget
  readonly #failures: FailureMemory
  /** In least-recently-used order: a use moves a pool to the end. */
  readonly #pools = new Map<string, DatabasePool>()
  readonly #waiters = new WaiterQueue()
  readonly #inflight = new Set<Promise<unknown>>()
  readonly #counters = newCounters()
  #closed = false

  constructor(options: PoolRouterOptions) {
    this.#options = resolvePoolRouterOptions(options)
    this.#budget = new ConnectionBudget(this.#options.budget)
    this.#failures = new FailureMemory(this.#options.failureBackoffMs)
  }

  /** The engine behind the routed databases. */
  get backend(): PostgresBackend {
    return this.#options.databases.backend
  }

  /**
   * A connection to one tenant database. Give it back with `release()`.
   *
   * @example
   * const client = await router.acquire({ server: 'eu-1', database: 'tenant_initech' })
   * try { await client.query('select 1') } finally { client.release() }
   */
  async acquire(key: DatabaseKey): Promise<RoutedClient> {
    const resolved = this.#loginOf(resolveDatabaseKey(key))
    if (this.#closed) throw routerClosed()
    const existing = this.#pools.get(databaseId(resolved))
    if (existing === undefined || existing.idle.length === 0) {
      const failure = this.#failures.recall(resolved)
      if (failure !== undefined) throw failure
    }
    return this.#checkout(this.#poolFor(resolved))
  }

  /**
   * Runs `fn` with a connection and gives it back, whatever happens. When `fn`
   * throws, a ROLLBACK ends any transaction it left open before the connection
   * is reused; a connection that cannot even do that is closed.
   *
   * @example
   * const count = await router.withClient({ database: 'tenant_initech' }, async (client) => {
   *   const result = await client.query<{ n: number }>('select count(*)::int as n from tasks')
   *   return result.rows[0]?.n ?? 0
   * })
   */
  async withClient<T>(key: DatabaseKey, fn: (client: RoutedClient) => Promise<T> | T): Promise<T> {
    const client = await this.acquire(key)
    let result: T
    try {
      result = await fn(client)
    } catch (error) {
      const reusable = await client.query('rollback').then(() => true, () => false)
      client.release(!reusable)
      throw error
    }
    client.release()
    return result
  }

  /**
   * Closes a database's connections: idle ones now, checked-out ones when they
   * come back; forgets a remembered failure of it. Use before DROP DATABASE, or
   * right after provisioning a database that was reported missing.
   *
   * @example
   * await router.evict({ database: 'tenant_initech' })
   * await admin.query('drop database tenant_initech')
   */
  async evict(key: DatabaseKey): Promise<void> {
    const resolved = resolveDatabaseKey(key)
    const closing: Promise<void>[] = []
    for (const pool of [...this.#pools.values()]) {
      if (pool.key.server !== resolved.server || pool.key.database !== resolved.database) continue
      this.#failures.forget(pool.key)
      closing.push(...[...pool.idle].map((connection) => this.#close(connection, 'evicted')))
      for (const connection of pool.busy) {
        connection.retire = true
        closing.push(connection.closed)
      }
    }
    this.#failures.forget(resolved)
    await Promise.all(closing)
  }

  /** Whether connections of different logins are pooled apart (false for PGlite: one connection per database). */
  get separateLogins(): boolean {
    return this.#options.databases.separateLogins !== false
  }

  /** PGlite serves every login from its one connection: one pool per database, whatever the login. */
  #loginOf(key: ResolvedDatabaseKey): ResolvedDatabaseKey {
    return key.login !== undefined && !this.separateLogins ? { server: key.server, database: key.database } : key
  }

  /**
   * A snapshot of the connections, per database and in total.
   *
   * @example
   * assert.ok(router.stats().peakOpenConnections <= router.stats().budget)
   */
  stats(): PoolRouterStats {
    return snapshot(this.#pools.values(), this.#counters, this.#budget, this.#waiters.size)
  }

  /**
   * Fails queued acquires, closes every connection (checked-out ones too; their
   * later `release()` does nothing) and resolves when all are closed. Later
   * acquires fail.
   *
   * @example
   * process.on('SIGTERM', () => void router.close())
   */
  async close(): Promise<void> {
    this.#closed = true
    this.#waiters.rejectWhere(() => true, routerClosed())
    for (const pool of this.#pools.values()) {
      for (const connection of [...pool.idle, ...pool.busy]) void this.#close(connection, 'router-closed')
    }
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
  }

  #poolFor(key: ResolvedDatabaseKey): DatabasePool {
    const id = databaseId(key)
    let pool = this.#pools.get(id)
    if (pool === undefined) {
      pool = new DatabasePool(key, id, this.#options.maxPerDatabase)
      this.#pools.set(id, pool)
      this.#counters.poolOpens += 1
      this.#enforcePoolCap()
    } else {
      this.#pools.delete(id)
      this.#pools.set(id, pool)
    }
    return pool
  }

  #checkout(pool: DatabasePool): Promise<RoutedClient> {
    const idle = pool.idle.pop()
    if (idle !== undefined) return Promise.resolve(this.#lease(idle))
    if (pool.canOpen()) {
      if (this.#budget.tryTake()) return this.#open(pool)
      const victim = this.#victimFor(pool)
      if (victim !== undefined) return this.#open(pool, this.#reclaim(victim))
    }
    return this.#waiters.enqueue(pool, this.#options.acquireTimeoutMs, (waiter) => this.#timeout(waiter))
  }

  /** Opens a connection with a permit already held (or being handed over by `handover`). */
  async #open(pool: DatabasePool, handover?: Promise<void>): Promise<RoutedClient> {
    if (handover) pool.reserved += 1
    else pool.opening += 1
    let physical: PhysicalConnection
    const attempt = (async () => {
      if (handover) {
        await handover
        pool.reserved -= 1
        pool.opening += 1
      }
      if (this.#closed) throw routerClosed()
      return this.#options.databases.connect(pool.key)
    })()
    this.#track(attempt)
    try {
      physical = await attempt
    } catch (error) {
      pool.opening -= 1
      const failure = this.#closed ? routerClosed() : connectFailure(error, pool.key)
      if (!this.#closed) this.#connectFailed(pool, failure)
      this.#budget.give()
      this.#dropIfEmpty(pool)
      this.#grant()
      throw failure
    }
    pool.opening -= 1
    const connection = new PooledConnection(pool, physical)
    const onLost = (): void => this.#lost(connection)
    physical.client.on('error', onLost)
    physical.client.on('end', onLost)
    this.#counters.connectionOpens += 1
    if (this.#closed) {
      void this.#close(connection, 'router-closed')
      throw routerClosed()
    }
    const client = this.#lease(connection)
    // The first connection lifts the one-connect-at-a-time limit: queued acquires may open more.
    this.#grant()
    return client
  }

  #connectFailed(pool: DatabasePool, failure: TenantryError): void {
    this.#counters.connectFailures += 1
    if (pool.established > 0) return // the database works; only this extra connection failed
    this.#failures.remember(pool.key, failure)
    this.#waiters.rejectWhere((waiter) => waiter.pool === pool, failure)
  }

  /** Checks a connection out and arms its one-shot `release`. */
  #lease(connection: PooledConnection): RoutedClient {
    const pool = connection.pool
    clearTimeout(connection.idleTimer)
    connection.idleTimer = undefined
    connection.state = 'busy'
    pool.busy.add(connection)
    let released = false
    const release = (destroy?: Error | boolean): void => {
      if (released) throw new TenantryError('INTERNAL', 'release() was called twice for one checkout of a routed client.')
      released = true
      this.#release(connection, destroy === true || destroy instanceof Error)
    }
    return Object.assign(connection.physical.client, { release })
  }

  #release(connection: PooledConnection, destroy: boolean): void {
    if (connection.state !== 'busy') return // closed meanwhile (router closed)
    connection.pool.busy.delete(connection)
    if (this.#closed || destroy || connection.broken || connection.retire) {
      const reason: CloseReason = this.#closed ? 'router-closed' : connection.retire ? 'evicted' : connection.broken ? 'broken' : 'destroyed'
      void this.#close(connection, reason)
      return
    }
    this.#makeIdle(connection)
    // The oldest queued acquire this connection can serve gets it (or its permit).
    this.#grant()
    this.#enforcePoolCap()
  }

  #makeIdle(connection: PooledConnection): void {
    connection.state = 'idle'
    connection.pool.idle.push(connection)
    connection.idleTimer = setTimeout(() => void this.#close(connection, 'idle'), this.#options.idleTimeoutMs)
    connection.idleTimer.unref()
  }

  #lost(connection: PooledConnection): void {
    connection.broken = true
    if (connection.state === 'idle') void this.#close(connection, 'broken')
  }

  /**
   * Serves queued acquires in FIFO order: from their database's idle
   * connections, with a free permit, or with the permit of another database's
   * idle connection (closed for it). Stops offering permits once none is left.
   */
  #grant(): void {
    let permitsLeft = true
    for (const waiter of this.#waiters) {
      const pool = waiter.pool
      const idle = pool.idle.pop()
      if (idle !== undefined) {
        this.#waiters.remove(waiter)
        waiter.resolve(this.#lease(idle))
        continue
      }
      if (!permitsLeft || !pool.canOpen()) continue
      const failure = this.#failures.recall(pool.key)
      if (failure !== undefined) {
        this.#waiters.remove(waiter)
        waiter.reject(failure)
        this.#dropIfEmpty(pool)
        continue
      }
      if (this.#budget.tryTake()) {
        this.#waiters.remove(waiter)
        waiter.resolve(this.#open(pool))
        continue
      }
      const victim = this.#victimFor(pool)
      if (victim === undefined) {
        permitsLeft = false
        continue
      }
      this.#waiters.remove(waiter)
      waiter.resolve(this.#open(pool, this.#reclaim(victim)))
    }
  }

  /** The longest-idle connection of the least recently used other database. */
  #victimFor(pool: DatabasePool): PooledConnection | undefined {
    for (const other of this.#pools.values()) {
      if (other !== pool && other.idle.length > 0) return other.idle[0]
    }
    return undefined
  }

  /** Closes an idle connection, keeping its permit for the caller. */
  #reclaim(victim: PooledConnection): Promise<void> {
    this.#counters.reclaimed += 1
    return this.#close(victim, 'budget', true)
  }

  #timeout(waiter: Waiter): void {
    this.#counters.timeouts += 1
    const { budget, maxPerDatabase, acquireTimeoutMs } = this.#options
    waiter.reject(
      new TenantryError(
        'CONNECTION_BUDGET_EXHAUSTED',
        `No connection to the tenant ${describeKey(waiter.pool.key)} became free within ${acquireTimeoutMs} ms ` +
          `(budget ${budget} connections, at most ${maxPerDatabase} per database); retry later.`,
        { details: { budget, maxPerDatabase, waitedMs: acquireTimeoutMs } },
      ),
    )
    this.#dropIfEmpty(waiter.pool)
  }

  /**
   * Closes a connection. Its permit is given back once the close has completed
   * (the server has let go of it), unless `keepPermit`: then the caller takes it over.
   */
  #close(connection: PooledConnection, reason: CloseReason, keepPermit = false): Promise<void> {
    if (connection.state === 'closing') return connection.closed
    const pool = connection.pool
    pool.detach(connection)
    clearTimeout(connection.idleTimer)
    connection.state = 'closing'
    pool.closing += 1
    const done = (async () => {
      await connection.physical.close().catch(() => undefined)
      pool.closing -= 1
      connection.markClosed()
      if (!keepPermit) this.#budget.give()
      this.#dropIfEmpty(pool, reason)
      if (!keepPermit) this.#grant()
    })()
    this.#track(done)
    return done
  }

  #dropIfEmpty(pool: DatabasePool, reason?: CloseReason): void {
    if (!pool.empty || this.#pools.get(pool.id) !== pool) return
    this.#pools.delete(pool.id)
    if (reason === 'idle' || reason === 'lru' || reason === 'budget') this.#counters.evictions[reason] += 1
  }

  /** Beyond `maxPools`, closes least recently used databases that have nothing checked out. */
  #enforcePoolCap(): void {
    if (this.#pools.size <= this.#options.maxPools) return
    let open = 0
    for (const pool of this.#pools.values()) if (!pool.draining) open += 1
    for (const pool of this.#pools.values()) {
      if (open <= this.#options.maxPools) return
      if (!pool.quiet || pool.idle.length === 0) continue
      for (const connection of [...pool.idle]) void this.#close(connection, 'lru')
      open -= 1
    }
  }

  #track(promise: Promise<unknown>): void {
    const forget = (): void => {
      this.#inflight.delete(settled)
    }
    const settled: Promise<void> = promise.then(forget, forget)
    this.#inflight.add(settled)
  }
}
