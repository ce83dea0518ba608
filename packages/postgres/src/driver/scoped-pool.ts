import { EventEmitter } from 'node:events'
import { TenantryError, currentScope, queryScope, type Scope } from '@tenantry/core'
import pg from 'pg'
import { INVALID_SCOPE_SQLSTATE } from '../walls/guard-sql.ts'
import { databaseError } from './database-errors.ts'
import { forgetPreparedStatements, transactionEndedSince, transactionMarkOf } from './held-client.ts'
import { runAround, type PipelineStatement } from './pipelined-query.ts'
import { queryConfigOf } from './query-config.ts'
import { observedQuery } from './query-observation.ts'
import type { ConnectionRoute, RoutedConnection } from './route.ts'
import { COMMIT_AND_RESET, endWithReset, resetSession, SESSION_RESET_STATEMENTS } from './session-reset.ts'
import { scopeKeyOf, scopeMismatch, type ScopeKey } from './scope-key.ts'
import { preamble, transactionEndedError, type DriverStats } from './tenant-driver.ts'
import {
  clientTransactionCommand, isRollbackToSavepoint, refuseInTenantScope, transactionControlOf, type ClientTransactionCommand,
} from './transaction-control.ts'

type Callback = (error: Error | null, result?: pg.QueryResult) => void

/** What a transaction statement the client handled itself answers (node-postgres' shape, no rows). */
function answer(command: string): pg.QueryResult {
  return { command, rowCount: null, oid: 0, rows: [], fields: [] }
}

/** QUERY_REFUSED for transaction control the scoped pool cannot carry out. */
function poolTransactionRefused(command: string, where: 'pool' | 'client'): TenantryError {
  const instead = where === 'pool'
    ? 'pool.query() runs each statement in a transaction of its own; for a transaction, check out a client (pool.connect()) and send BEGIN … COMMIT on it, or use your ORM\'s transaction()'
    : 'send a plain BEGIN (or START TRANSACTION with isolation level and access mode), COMMIT or ROLLBACK, one per query; use SAVEPOINT inside the transaction'
  return new TenantryError('QUERY_REFUSED', `${command} in this SQL is refused: the scope's settings hold only inside the transaction Tenantry opens for it; ${instead}`)
}

function settle<T>(promise: Promise<T>, callback: ((error: Error | null, value?: T) => void) | undefined): Promise<T> | undefined {
  if (callback === undefined) return promise
  promise.then((value) => callback(null, value), (error: Error) => callback(error))
  return undefined
}

/** Splits node-postgres' `query(text, values, callback)` / `query(config, callback)` arguments. */
function callArguments(text: unknown, values: unknown, callback: unknown): { values: unknown; callback: Callback | undefined } {
  if (typeof values === 'function') return { values: undefined, callback: values as Callback }
  if (typeof callback === 'function') return { values, callback: callback as Callback }
  if (typeof text === 'object' && text !== null && typeof (text as { callback?: unknown }).callback === 'function') {
    return { values, callback: (text as { callback: Callback }).callback }
  }
  return { values, callback: undefined }
}

/** The statement's config, with the callback taken out (this pool answers with promises and calls it itself). */
function configOf(text: unknown, values: unknown, extended: boolean): pg.QueryConfig {
  if (typeof text === 'object' && text !== null && 'callback' in text) {
    const { callback: _dropped, ...rest } = text as { callback?: unknown }
    return queryConfigOf(rest, values, extended)
  }
  return queryConfigOf(text, values, extended)
}

/** Refuses, in a tenant scope, what no wall could see into (see refuseInTenantScope). */
function refuseOpaque(scope: Scope, sql: string): void {
  if (scope.kind === 'tenant') refuseInTenantScope(sql)
}

const BEGIN: PipelineStatement = { sql: 'begin' }

/**
 * One statement as its own transaction: BEGIN, the scope's settings, the
 * statement, COMMIT and the session reset, in one round trip. An explicit block,
 * so a procedure or function in the statement cannot commit and go on without
 * the scope. Transaction control is refused before anything is sent.
 */
async function runImplicit(routed: RoutedConnection, scope: Scope, config: pg.QueryConfig, where: 'pool' | 'client', stats: DriverStats | undefined): Promise<pg.QueryResult> {
  const command = transactionControlOf(config.text)
  if (command !== undefined) throw poolTransactionRefused(command, where)
  refuseOpaque(scope, config.text)
  const settings = routed.binding.settingsFor(scope)
  const before: PipelineStatement[] = settings.length > 0 ? [BEGIN, preamble(settings)] : [BEGIN]
  const after = COMMIT_AND_RESET
  const result = await runAround(routed.client, before, config, after).catch((error: unknown) => failed(routed, error))
  count(stats, 1, before.length + 1 + after.length, 1)
  if (!forgetPreparedStatements(routed.client)) throw new TenantryError('INTERNAL', 'node-postgres keeps no record of prepared statements where Tenantry expects it; this pg version is not supported')
  return result
}

/** Maps the database's error; a refused scope token makes the model re-read its key. */
function failed(routed: RoutedConnection, error: unknown): never {
  if ((error as { code?: unknown }).code === INVALID_SCOPE_SQLSTATE) routed.scopeRefused?.()
  return databaseError(error)
}

function count(stats: DriverStats | undefined, roundTrips: number, statements: number, transactions: number): void {
  if (stats === undefined) return
  stats.roundTrips += roundTrips
  stats.statements += statements
  stats.transactions += transactions
}

/**
 * Gives a connection back after SQL Tenantry could not see into: reset first
 * unless the last exchange left it clean, closed when that fails.
 */
async function giveBack(routed: RoutedConnection, dirty: boolean, destroy: boolean, stats: DriverStats | undefined): Promise<void> {
  let close = destroy
  if (!close && (dirty || routed.transactionStatus() !== 'I')) {
    close = !(await resetSession(routed.client))
    count(stats, 1, SESSION_RESET_STATEMENTS, 0)
  }
  routed.release(close)
}

export interface TenantPoolOptions {
  /** Counts round trips, statements and transactions (benchmarks, tests). */
  readonly stats?: DriverStats | undefined
}

/**
 * A `pg.Pool` whose every statement runs for the scope in force, wherever the
 * tenant is placed: a shared tenant's with the runtime role and the signed
 * tenant scope (row-level security sees it), a schema tenant's with its role and
 * search_path, a database tenant's on its own database through the pool router.
 * Outside a scope it refuses (TENANT_CONTEXT_MISSING); in `runAsSystem` it runs
 * as the owner. The path for plain node-postgres and for ORMs built on it
 * (Drizzle, Prisma's `@prisma/adapter-pg`): it is a real `pg.Pool` subclass, so
 * `instanceof pg.Pool` holds.
 *
 * - `pool.query(text, values)`: one statement, its own transaction; the scope's
 *   settings, the statement and the session reset go out in one round trip.
 * - `pool.connect()`: a client checked out for the scope in force, refusing any
 *   other (SCOPE_MISMATCH). `BEGIN` / `START TRANSACTION …` / `COMMIT` /
 *   `ROLLBACK` on it open and end a transaction of the scope (the scope's
 *   settings go out with its first statement); `SAVEPOINT`s work inside. Outside
 *   a transaction each statement is its own, as with `pool.query`. `release()`
 *   rolls back what is left open and resets the session.
 *
 * SQL here is opaque to Tenantry (no query rewrite, no stamps): the walls are
 * row-level security (shared), search_path and the tenant's role (schema) and
 * the router (database). Several statements in one string, `COMMIT AND CHAIN`
 * or `PREPARE TRANSACTION` are refused, and in a tenant scope so are DO blocks
 * and EXPLAIN ANALYZE. `end()` does nothing: the pools under it are Tenantry's,
 * closed by `tenantry.close()`.
 *
 * @example
 * const { rows } = await runWithTenant(acme, () => tenantry.pool.query('select * from projects where id = $1', [id]))
 *
 * @example
 * await runWithTenant(acme, async () => {
 *   const client = await tenantry.pool.connect()
 *   try {
 *     await client.query('begin')
 *     await client.query('insert into projects (name) values ($1)', ['Apollo'])   // tenant_id from the database default
 *     await client.query('commit')
 *   } finally {
 *     client.release()
 *   }
 * })
 */
export class TenantPool extends pg.Pool {
  readonly #route: ConnectionRoute
  readonly #stats: DriverStats | undefined

  constructor(route: ConnectionRoute, options: TenantPoolOptions = {}) {
    super({ max: 1 })
    this.#route = route
    this.#stats = options.stats
  }

  override query<T extends pg.Submittable>(queryStream: T): T
  override query<R extends any[] = any[], I = any[]>(queryConfig: pg.QueryArrayConfig<I>, values?: pg.QueryConfigValues<I>): Promise<pg.QueryArrayResult<R>>
  override query<R extends pg.QueryResultRow = any, I = any[]>(queryConfig: pg.QueryConfig<I>): Promise<pg.QueryResult<R>>
  override query<R extends pg.QueryResultRow = any, I = any[]>(queryTextOrConfig: string | pg.QueryConfig<I>, values?: pg.QueryConfigValues<I>): Promise<pg.QueryResult<R>>
  override query<R extends any[] = any[], I = any[]>(queryConfig: pg.QueryArrayConfig<I>, callback: (err: Error, result: pg.QueryArrayResult<R>) => void): void
  override query<R extends pg.QueryResultRow = any, I = any[]>(queryTextOrConfig: string | pg.QueryConfig<I>, callback: (err: Error, result: pg.QueryResult<R>) => void): void
  override query<R extends pg.QueryResultRow = any, I = any[]>(queryText: string, values: pg.QueryConfigValues<I>, callback: (err: Error, result: pg.QueryResult<R>) => void): void
  override query(...args: unknown[]): any {
    const [text, rawValues, rawCallback] = args
    const { values, callback } = callArguments(text, rawValues, rawCallback)
    return settle(this.#query(text, values), callback)
  }

  async #query(text: unknown, values: unknown): Promise<pg.QueryResult> {
    const scope = queryScope()
    const config = configOf(text, values, scope.kind === 'tenant')
    const routed = await this.#route.acquire(scope)
    let clean = false
    try {
      const stats = this.#stats
      const result = stats?.observer === undefined
        ? await runImplicit(routed, scope, config, 'pool', stats)
        : await observedQuery(stats, scope, () => runImplicit(routed, scope, config, 'pool', stats))
      clean = routed.transactionStatus() === 'I'
      return result
    } finally {
      await giveBack(routed, !clean, false, this.#stats)
    }
  }

  override connect(): Promise<pg.PoolClient>
  override connect(callback: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void
  override connect(callback?: (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): any {
    const checkout = (async () => {
      const scope = queryScope()
      const routed = await this.#route.acquire(scope)
      return new TenantPoolClient(routed, scope, this.#stats) as unknown as pg.PoolClient
    })()
    if (callback === undefined) return checkout
    checkout.then(
      (client) => callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean | undefined)),
      (error: Error) => callback(error, undefined, () => undefined),
    )
    return undefined
  }

  /**
   * Does nothing: this handle is shared (every `tenantry.pool` and
   * `data.pool()` is the same one), and an ORM's disconnect must not end it for
   * everyone. The pools under it close with `tenantry.close()`.
   */
  override end(): Promise<void>
  override end(callback: () => void): void
  override end(callback?: () => void): any {
    if (callback === undefined) return Promise.resolve()
    queueMicrotask(callback)
    return undefined
  }
}

/** Where a checked-out client's transaction is: none, asked for (BEGIN not yet sent), open on the server. */
type TransactionState = 'none' | 'asked' | 'open'

/**
 * A connection `TenantPool.connect()` checked out for one scope (see TenantPool).
 * Queries run one at a time, each checked before the next is sent.
 */
export class TenantPoolClient extends EventEmitter {
  readonly #routed: RoutedConnection
  readonly #scope: Scope
  readonly #scopeKey: ScopeKey
  readonly #stats: DriverStats | undefined
  #state: TransactionState = 'none'
  /** BEGIN and SET TRANSACTION statements waiting for the transaction's first statement. */
  #opening: PipelineStatement[] = []
  /** SQL ended the open transaction early: nothing more runs until ROLLBACK or release. */
  #ended = false
  /** The session may hold state from a statement: reset before the connection is reused. */
  #dirty = false
  #released = false
  #queue: Promise<unknown> = Promise.resolve()

  constructor(routed: RoutedConnection, scope: Scope, stats: DriverStats | undefined) {
    super()
    this.#routed = routed
    this.#scope = scope
    this.#scopeKey = scopeKeyOf(scope)
    this.#stats = stats
  }

  /** node-postgres' identifier quoting. */
  escapeIdentifier(value: string): string {
    return pg.escapeIdentifier(value)
  }

  /** node-postgres' literal quoting. */
  escapeLiteral(value: string): string {
    return pg.escapeLiteral(value)
  }

  /** node-postgres' `client.query`, in this client's scope (see TenantPool). */
  readonly query: pg.ClientBase['query'] = ((...args: unknown[]) => this.#call(args)) as pg.ClientBase['query']

  #call(args: unknown[]): Promise<pg.QueryResult> | undefined {
    const [text, rawValues, rawCallback] = args
    const { values, callback } = callArguments(text, rawValues, rawCallback)
    let run: Promise<pg.QueryResult>
    if (this.#released) {
      run = Promise.reject(new TenantryError('INTERNAL', 'This client was released; check out another with pool.connect()'))
    } else if (scopeKeyOf(currentScope()) !== this.#scopeKey) {
      run = Promise.reject(scopeMismatch(this.#scope, currentScope()))
    } else {
      const stats = this.#stats
      run = stats?.observer === undefined
        ? this.#queue.then(() => this.#run(text, values))
        : this.#queue.then(() => observedQuery(stats, this.#scope, () => this.#run(text, values)))
      this.#queue = run.catch(() => undefined)
    }
    return settle(run, callback)
  }

  async #run(text: unknown, values: unknown): Promise<pg.QueryResult> {
    const config = configOf(text, values, this.#scope.kind === 'tenant')
    const command = clientTransactionCommand(config.text)
    if (command !== undefined) return this.#transaction(command)
    if (this.#ended) throw transactionEndedError()
    if (this.#state === 'none') {
      this.#dirty = true
      const result = await runImplicit(this.#routed, this.#scope, config, 'client', this.#stats)
      this.#dirty = this.#routed.transactionStatus() !== 'I'
      return result
    }
    const shown = transactionControlOf(config.text)
    if (shown !== undefined) throw poolTransactionRefused(shown, 'client')
    refuseOpaque(this.#scope, config.text)
    this.#dirty = true
    const mark = transactionMarkOf(this.#routed.client)
    let result: pg.QueryResult
    if (this.#state === 'asked') {
      // BEGIN, SET TRANSACTION, the scope's settings and the statement: one round trip.
      const settings = this.#routed.binding.settingsFor(this.#scope)
      const before = [...this.#opening, ...(settings.length > 0 ? [preamble(settings)] : [])]
      this.#opening = []
      this.#state = 'open'
      try {
        result = await runAround(this.#routed.client, before, config)
      } catch (error) {
        // The transaction never opened (a BEGIN the server refused): nothing more runs in it.
        if (this.#routed.transactionStatus() === 'I') this.#ended = true
        return failed(this.#routed, error)
      } finally {
        count(this.#stats, 1, before.length + 1, 1)
      }
    } else {
      result = await this.#routed.client.query(config).catch((error: unknown) => failed(this.#routed, error))
      count(this.#stats, 1, 1, 0)
    }
    // SQL that ended the scope's transaction (a commit the check could not see, or
    // `commit/rollback and chain`): what followed would run without the scope's settings.
    if (transactionEndedSince(this.#routed.client, mark, config.text, isRollbackToSavepoint)) {
      this.#ended = true
      throw transactionEndedError()
    }
    return result
  }

  async #transaction(command: ClientTransactionCommand): Promise<pg.QueryResult> {
    switch (command.kind) {
      case 'begin':
        if (this.#state !== 'none') throw new TenantryError('QUERY_REFUSED', 'A transaction is already open on this client; COMMIT or ROLLBACK it first (use SAVEPOINT for a nested one)')
        this.#state = 'asked'
        this.#opening = [{ sql: command.sql }]
        return answer('BEGIN')
      case 'set transaction':
        // Before the transaction's first statement, as PostgreSQL requires: it goes out with BEGIN.
        if (this.#state === 'asked') {
          this.#opening.push({ sql: command.sql })
          return answer('SET')
        }
        if (this.#state === 'none') throw new TenantryError('QUERY_REFUSED', 'SET TRANSACTION outside a transaction has no effect; send BEGIN first (or START TRANSACTION ISOLATION LEVEL …)')
        return this.#inOpenTransaction(command.sql)
      case 'commit':
      case 'rollback':
        return this.#end(command.kind)
    }
  }

  async #inOpenTransaction(sql: string): Promise<pg.QueryResult> {
    const result = await this.#routed.client.query(sql).catch((error: unknown) => failed(this.#routed, error))
    count(this.#stats, 1, 1, 0)
    return result
  }

  /** COMMIT or ROLLBACK and the session reset, in one round trip; the server's answer (COMMIT of a failed transaction answers ROLLBACK). */
  async #end(kind: 'commit' | 'rollback'): Promise<pg.QueryResult> {
    const state = this.#state
    this.#state = 'none'
    this.#opening = []
    const ended = this.#ended
    this.#ended = false
    if (state === 'asked') return answer(kind === 'commit' ? 'COMMIT' : 'ROLLBACK')
    if (state === 'none' && !ended) {
      // PostgreSQL answers a COMMIT or ROLLBACK outside a transaction with a warning only.
      return answer(kind === 'commit' ? 'COMMIT' : 'ROLLBACK')
    }
    // After SQL ended the transaction early, a COMMIT must not commit what ran after it.
    const sql = ended ? 'rollback' : kind
    try {
      const { result, roundTrips, statements } = await endWithReset(this.#routed.client, sql, this.#routed.transactionStatus())
      count(this.#stats, roundTrips, statements, 0)
      this.#dirty = !forgetPreparedStatements(this.#routed.client) || this.#routed.transactionStatus() !== 'I'
      return ended && kind === 'commit' ? answer('ROLLBACK') : result
    } catch (error) {
      this.#dirty = true
      return databaseError(error)
    }
  }

  /**
   * Gives the connection back: what is left open is rolled back and the session
   * reset; `release(error)` or `release(true)` closes it instead.
   */
  release(destroy?: Error | boolean): void {
    if (this.#released) throw new TenantryError('INTERNAL', 'This client was already released')
    this.#released = true
    const close = destroy === true || destroy instanceof Error
    // Read once the queued queries have run: one of them may leave the session dirty (a COMMIT that failed).
    void this.#queue.then(() => giveBack(this.#routed, this.#dirty || this.#state !== 'none', close, this.#stats)).catch(() => this.#routed.release(true))
  }
}
