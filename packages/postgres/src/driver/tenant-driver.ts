import { performance } from 'node:perf_hooks'
import { TenantryError, currentScope, queryScope, type QueryObservation, type QueryObserver, type Scope, type TenantScope } from '@tenantry/core'
import { compiledStampOf, tenantStampOf } from '@tenantry/kysely'
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import type pg from 'pg'
import type { ConnectionRoute, RoutedConnection } from './route.ts'
import { INVALID_SCOPE_SQLSTATE } from '../walls/guard-sql.ts'
import { databaseError } from './database-errors.ts'
import { endObservedQuery, observedQuery, startObservedQuery } from './query-observation.ts'
import { forgetPreparedStatements, transactionEndedSince, transactionMarkOf } from './held-client.ts'
import { queryConfigOf } from './query-config.ts'
import { COMMIT_AND_RESET, endWithReset, SESSION_RESET_SQL, SESSION_RESET_STATEMENTS, TRAILING_RESET } from './session-reset.ts'
import { runPipeline, type PipelineStatement, type StatementResult } from './pipelined-query.ts'
import { setConfigParameters, setConfigSql, type ScopeSetting } from './scope-binding.ts'
import { scopeKeyOf, scopeMismatch, type ScopeKey } from './scope-key.ts'
import { DEFAULT_STATEMENT_CACHE_SIZE, isStalePlanError, statementCacheOf, type StatementCache } from './statement-cache.ts'
import { isProcedureCall, isRollbackToSavepoint, procedureCallRefused, refuseInTenantScope, transactionControlOf, transactionControlRefused } from './transaction-control.ts'

/** Counts what the driver sent, for benchmarks and tests. */
export interface DriverStats {
  /** Network round trips (one Sync or simple query each). */
  roundTrips: number
  /** Statements executed, including the scope preamble. */
  statements: number
  /** Transactions opened (implicit pipelined ones included). */
  transactions: number
  /** Watches each query of a tenant (metrics, traces); set by `TenantData`'s `queryObserver`. */
  observer?: QueryObserver | undefined
}

export interface TenantDriverOptions {
  /** Which connection, and which settings, serve the scope in force. */
  readonly route: ConnectionRoute
  /**
   * In a tenant scope, refuse a compiled query that TenantScopePlugin did not stamp
   * for the current tenant (a query compiled for another tenant, or built by hand).
   */
  readonly requireStamp: boolean
  readonly stats?: DriverStats | undefined
  /**
   * Named prepared statements kept per pooled connection (the query and the
   * scope preamble): a count, 0 for none. Default DEFAULT_STATEMENT_CACHE_SIZE.
   */
  readonly statementCache?: number | undefined
}

const AFFECTING = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE'])

function toQueryResult<R>(result: StatementResult): QueryResult<R> {
  return {
    rows: result.rows as R[],
    numAffectedRows: AFFECTING.has(result.command) && result.rowCount !== null ? BigInt(result.rowCount) : undefined,
  }
}

export { SESSION_RESET_SQL } from './session-reset.ts'

/**
 * One pooled connection, checked out for one scope and refusing every other.
 * Outside an explicit transaction, a query is sent together with its
 * `set_config(..., true)` preamble in one round trip, as one implicit
 * transaction; inside one, the preamble went out with BEGIN.
 */
export class TenantConnection implements DatabaseConnection {
  readonly client: pg.ClientBase
  readonly routed: RoutedConnection
  /** The scope this connection was checked out for. */
  readonly scopeKey: ScopeKey
  readonly #scope: Scope | undefined
  readonly #options: TenantDriverOptions
  /** Inside an explicit transaction. */
  #inTransaction = false
  /** The search_path the open transaction set (its cached statements are that schema's). */
  #transactionVariant: string | undefined
  /** SQL in a statement ended the explicit transaction early: nothing more runs in it. */
  #transactionEnded = false
  /** Closed instead of reused: a failed rollback, or a failed session reset. */
  discarded = false
  /** Ran SQL that may have changed session state: reset before it serves anyone else. */
  touched = false

  /** This connection's prepared statements, or undefined when the cache is off. */
  readonly #statements: StatementCache | undefined

  constructor(routed: RoutedConnection, options: TenantDriverOptions, scope: Scope | undefined) {
    this.routed = routed
    this.client = routed.client
    this.#options = options
    this.#scope = scope
    this.scopeKey = scopeKeyOf(scope)
    this.#statements = statementCacheOf(routed.client, options.statementCache ?? DEFAULT_STATEMENT_CACHE_SIZE)
  }

  #count(roundTrips: number, statements: number, transactions: number): void {
    const stats = this.#options.stats
    if (!stats) return
    stats.roundTrips += roundTrips
    stats.statements += statements
    stats.transactions += transactions
  }

  /** The scope in force, which must be the one this connection was checked out for. */
  #scopeInForce(): Scope | undefined {
    return this.#checked(currentScope())
  }

  /** `scope`, which must be the one this connection was checked out for. */
  #checked(scope: Scope | undefined): Scope | undefined {
    if (scopeKeyOf(scope) !== this.scopeKey) throw scopeMismatch(this.#scope, scope)
    return scope
  }

  /**
   * Refuses a query the scope may not run; SQL the plugin could not see into
   * marks the connection for a reset, and may not be transaction control.
   */
  #guard(compiled: CompiledQuery, scope: Scope | undefined): void {
    const stamp = compiledStampOf(compiled)
    if (stamp === undefined || stamp.opaque) {
      this.touched = true
      const command = transactionControlOf(compiled.sql)
      if (command !== undefined) throw transactionControlRefused(command, 'statement')
      if (scope?.kind === 'tenant' && !this.#inTransaction && isProcedureCall(compiled.sql)) throw procedureCallRefused()
      // DO, EXPLAIN ANALYZE, LOCK, ALTER ROLE: refused on every path, as the pool refuses them.
      if (scope?.kind === 'tenant') refuseInTenantScope(compiled.sql)
    }
    if (scope?.kind !== 'tenant' || !this.#options.requireStamp) return
    if (stamp?.scope === scope.tenant.id) return
    if (stamp === undefined && tenantStampOf(compiled.query) === scope.tenant.id) {
      throw new TenantryError(
        'QUERY_REFUSED',
        'This compiled query is not the one the tenant plugin produced (its SQL text or parameters were replaced, or it was copied); execute the CompiledQuery Kysely returned, unchanged',
      )
    }
    if (stamp === undefined || typeof stamp.scope !== 'string') {
      throw new TenantryError(
        'QUERY_REFUSED',
        'This query was not compiled by the tenant plugin for the current tenant (a hand-built CompiledQuery or one compiled in a system scope); build it with the scoped Kysely instance inside the tenant scope',
      )
    }
    throw new TenantryError('SCOPE_MISMATCH', `This query was compiled for another tenant and cannot run for tenant "${scope.tenant.slug}"; compile it again inside this tenant's scope`)
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // Read once, before any observer runs: the scope checked below and the one observed are the same.
    const scope = currentScope()
    // Observed from before the scope check, so a refused query is observed as failed.
    const observation = startObservedQuery(this.#options.stats, scope)
    return this.#execute<R>(compiled, scope, observation, observation === undefined ? 0 : performance.now())
  }

  /**
   * Runs the statement in `scope` (the one in force when it was asked for);
   * `observation` (metrics, a span), started at `started`, ends here, in the
   * same async function: no promise, closure or object of its own.
   */
  async #execute<R>(compiled: CompiledQuery, inForce: Scope | undefined, observation: QueryObservation | undefined, started: number): Promise<QueryResult<R>> {
    let failed = false
    try {
      const scope = this.#checked(inForce)
      this.#guard(compiled, scope)
      // A tenant's SQL goes out with the extended protocol, which takes one statement:
      // `commit; begin; …` in one string cannot end the scope's transaction and go on.
      const extended = scope?.kind === 'tenant'
      if (this.#inTransaction) {
        if (this.#transactionEnded) throw transactionEndedError()
        const mark = transactionMarkOf(this.client)
        const result = await this.#single<R>(compiled, extended)
        // SQL in the statement may have ended the transaction (a `commit` the check above
        // could not see, `commit and chain` opening the next at once): the statements
        // after it would run outside it, without the scope's settings.
        if (transactionEndedSince(this.client, mark, compiled.sql, isRollbackToSavepoint)) {
          this.#transactionEnded = true
          throw transactionEndedError()
        }
        return result
      }
      const settings = this.routed.binding.settingsFor(scope)
      // SQL the plugin could not see into may leave session state: see #opaque.
      // (A tenant's: in the system scope SQL may be several statements, which only the simple protocol takes;
      // the owner's connections never serve a tenant, so its reset can wait for release.)
      const result = this.touched && extended
        ? await this.#opaque<R>(compiled, settings)
        : settings.length === 0
          ? await this.#single<R>(compiled, extended)
          : toQueryResult<R>(await this.#run([preamble(settings), { sql: compiled.sql, parameters: compiled.parameters, cache: true, variant: statementVariant(settings) }]))
      if (settings.length > 0) this.#count(0, 0, 1)
      // SQL in the statement may have opened a transaction (a trusted `begin`) that would
      // outlive the statement and its settings: undo it.
      if (this.routed.transactionStatus() !== 'I' && this.routed.transactionStatus() !== undefined) {
        this.touched = true
        await runPipeline(this.client, [{ sql: 'rollback' }]).catch(() => {
          this.discarded = true
        })
        throw new TenantryError('QUERY_REFUSED', 'SQL in this statement opened a transaction that would outlive it; it was rolled back. Use db.transaction() for transactions')
      }
      return result
    } catch (error) {
      failed = true
      throw error
    } finally {
      // Only a tenant scope's query has an observation.
      if (observation !== undefined) endObservedQuery(observation, inForce as TenantScope, started, failed)
    }
  }

  /**
   * A tenant's statement holding SQL the plugin could not see into, outside a
   * transaction: BEGIN, the scope's settings, the statement, and COMMIT with
   * the session reset (COMMIT_WITH_RESET), in one round trip, so a transaction
   * pooler (PgBouncer) cannot hand the server connection on before the reset.
   * The BEGIN is explicit so that a failed statement leaves its transaction
   * open and aborted: the pooler keeps the server connection for this client,
   * and the full reset (ROLLBACK first) follows at once on that connection.
   */
  async #opaque<R>(compiled: CompiledQuery, settings: readonly ScopeSetting[]): Promise<QueryResult<R>> {
    const statements: PipelineStatement[] = [{ sql: 'begin' }]
    if (settings.length > 0) statements.push(preamble(settings))
    statements.push({ sql: compiled.sql, parameters: compiled.parameters })
    let result: StatementResult
    try {
      result = await this.#run(statements, COMMIT_AND_RESET)
    } catch (error) {
      await this.#resetAfterFailure()
      throw error
    }
    this.#resetWith(COMMIT_AND_RESET)
    return toQueryResult<R>(result)
  }

  /** COMMIT or ROLLBACK with the session reset (endWithReset); after a failure, the full reset. */
  async #endWithReset(command: 'commit' | 'rollback'): Promise<pg.QueryResult> {
    try {
      const { result, roundTrips, statements } = await endWithReset(this.client, command, this.routed.transactionStatus())
      this.#count(roundTrips, statements, 0)
      this.#resetWith(TRAILING_RESET)
      return result
    } catch (error) {
      await this.#resetAfterFailure()
      return databaseError(error)
    }
  }

  /** SESSION_RESET_SQL (ROLLBACK first) after a round trip that failed with opaque SQL in it; the connection is closed at release if that fails too. */
  async #resetAfterFailure(): Promise<void> {
    try {
      await this.client.query(SESSION_RESET_SQL)
      this.#count(1, SESSION_RESET_STATEMENTS, 0)
      if (forgetPreparedStatements(this.client)) this.touched = false
      else this.discarded = true
    } catch {
      this.discarded = true
    }
  }

  /**
   * One statement with nothing to pipeline: node-postgres' own path, the
   * cheapest (the same one round trip with either protocol). `extended`: even
   * without parameters, so the server refuses a string of several statements.
   */
  async #single<R>(compiled: CompiledQuery, extended: boolean): Promise<QueryResult<R>> {
    // The system scope keeps node-postgres' own path: its SQL may be several statements (simple protocol).
    if (extended && this.#statements !== undefined) {
      return toQueryResult<R>(await this.#run([{ sql: compiled.sql, parameters: compiled.parameters, cache: true, variant: this.#transactionVariant }]))
    }
    const query = extended
      ? this.client.query({ text: compiled.sql, values: compiled.parameters as unknown[], queryMode: 'extended' } as pg.QueryConfig)
      : this.client.query(compiled.sql, compiled.parameters as unknown[])
    const result = await query.catch((error: unknown) => this.#failed(error))
    this.#count(1, 1, 0)
    return toQueryResult({ command: result.command, rowCount: result.rowCount, rows: result.rows })
  }

  /** Maps the database's error; a refused scope token makes the model re-read its key. */
  #failed(error: unknown): never {
    if ((error as { code?: unknown }).code === INVALID_SCOPE_SQLSTATE) this.routed.scopeRefused?.()
    if (isLostCachedStatement(error)) throw cachedStatementLost(error)
    return databaseError(error)
  }

  /**
   * One round trip. A cached statement gone stale under it (DDL changed its
   * result type, or its prepared statement was deallocated) is dropped from
   * the cache by the failure; outside an explicit transaction, where the round
   * trip was its own implicit transaction and rolled back whole, it is sent
   * once more, parsed afresh. Inside one the error stands: the transaction is
   * aborted, and retrying it is the application's (as for a serialization
   * failure).
   */
  async #run(statements: readonly PipelineStatement[], after: readonly PipelineStatement[] = []): Promise<StatementResult> {
    let result: StatementResult
    const sent = statements.length + after.length
    // A round trip that ends with the session reset deallocates every statement: name none in it.
    const cache = after.length > 0 ? undefined : this.#statements
    try {
      result = await runPipeline(this.client, statements, cache, after)
    } catch (error) {
      this.#count(1, sent, 0)
      if (!isStalePlanError(error) || this.#inTransaction || cache === undefined) return this.#failed(error)
      result = await runPipeline(this.client, statements, cache, after).catch((again: unknown) => this.#failed(again))
    }
    this.#count(1, sent, 0)
    return result
  }

  /** After a round trip that ended with the session reset: clean, unless the reset ran inside a transaction SQL left open. */
  #resetWith(after: readonly PipelineStatement[]): void {
    if (after.length === 0 || this.routed.transactionStatus() !== 'I') return
    if (forgetPreparedStatements(this.client)) this.touched = false
  }

  async begin(settings: TransactionSettings): Promise<void> {
    const scope = this.#scopeInForce()
    if (this.#inTransaction) throw new TenantryError('INTERNAL', 'A transaction is already open on this connection')
    const scopeSettings = this.routed.binding.settingsFor(scope)
    let begin = 'begin'
    if (settings.isolationLevel || settings.accessMode) {
      begin = ['start transaction', settings.isolationLevel && `isolation level ${settings.isolationLevel}`, settings.accessMode]
        .filter(Boolean)
        .join(' ')
    }
    const statements: PipelineStatement[] = [{ sql: begin }]
    if (scopeSettings.length > 0) statements.push(preamble(scopeSettings))
    try {
      await runPipeline(this.client, statements, this.#statements)
    } catch (error) {
      // BEGIN ran and a setting failed: the transaction block is open and aborted.
      // Close it here, since Kysely will not roll back a transaction whose begin failed.
      await runPipeline(this.client, [{ sql: 'rollback' }]).catch(() => {
        this.discarded = true
      })
      this.#failed(error)
    }
    this.#count(1, statements.length, 1)
    this.#inTransaction = true
    this.#transactionVariant = statementVariant(scopeSettings)
  }

  async end(command: 'commit' | 'rollback'): Promise<void> {
    try {
      // After SQL the plugin could not see into, the session reset goes out with COMMIT or ROLLBACK (see #opaque).
      let result: { readonly command: string }
      if (this.touched) {
        result = await this.#endWithReset(command)
      } else {
        result = await runPipeline(this.client, [{ sql: command }]).catch(databaseError)
        this.#count(1, 1, 0)
      }
      if (command === 'commit' && result.command === 'ROLLBACK') {
        throw new TenantryError('INTERNAL', 'The transaction was rolled back by the database because a statement in it failed')
      }
    } catch (error) {
      if (command === 'rollback') this.discarded = true
      throw error
    } finally {
      this.#inTransaction = false
      this.#transactionEnded = false
      this.#transactionVariant = undefined
    }
  }

  async plain(sql: string): Promise<void> {
    this.#scopeInForce()
    await runPipeline(this.client, [{ sql }]).catch(databaseError)
    this.#count(1, 1, 0)
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Streaming needs a cursor held open across round trips; inside an explicit
    // transaction the scope holds, so it is served there in one chunk.
    yield await this.executeQuery<R>(compiled)
  }

  /**
   * Gives the connection back: reset first when it ran opaque SQL, closed
   * instead when that or an earlier rollback failed, or when node-postgres'
   * record of prepared statements cannot be cleared to match the reset.
   */
  async release(): Promise<void> {
    if (this.touched && !this.discarded) {
      try {
        await this.client.query(SESSION_RESET_SQL)
        this.#count(1, SESSION_RESET_STATEMENTS, 0)
        if (!forgetPreparedStatements(this.client)) this.discarded = true
      } catch {
        this.discarded = true
      }
    }
    const status = this.routed.transactionStatus()
    this.routed.release(this.discarded || (status !== undefined && status !== 'I'))
  }
}

/** SQLSTATE 26000 for a statement Tenantry's cache named: the server connection is not the one that parsed it. */
function isLostCachedStatement(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null
  return e?.code === '26000' && typeof e.message === 'string' && /prepared statement "tenantry_[0-9a-f]+_\d+"/.test(e.message)
}

function cachedStatementLost(error: unknown): TenantryError {
  return new TenantryError(
    'ISOLATION_MISCONFIGURED',
    'A prepared statement Tenantry cached on this connection is gone from the server: the connection is probably behind a transaction pooler (PgBouncer before 1.21 in transaction mode) that gives each transaction another server connection. Set statementCache: \'off\' (or database: { url, pooler: \'transaction\' } in createTenantry); see docs/pgbouncer.md',
    { cause: error },
  )
}

export function transactionEndedError(): TenantryError {
  return new TenantryError('QUERY_REFUSED', 'SQL in a statement ended this transaction early (a commit or rollback in raw SQL); nothing more runs in it. Let db.transaction() commit')
}

/**
 * What a cached statement run under these settings depends on besides its
 * text: the schemas of a search_path (a schema tenant's types and tables), or
 * nothing.
 */
export function statementVariant(settings: readonly ScopeSetting[]): string | undefined {
  for (const setting of settings) if (setting.schemas !== undefined) return setting.schemas.join(',')
  return undefined
}

const preambles = new WeakMap<readonly ScopeSetting[], PipelineStatement>()

/** The statement that applies `settings` to a transaction (one per settings array: a binding reuses its arrays). */
export function preamble(settings: readonly ScopeSetting[]): PipelineStatement {
  let statement = preambles.get(settings)
  if (statement === undefined) {
    statement = Object.freeze({ sql: setConfigSql(settings), parameters: Object.freeze(setConfigParameters(settings)), cache: true })
    preambles.set(settings, statement)
  }
  return statement
}

/**
 * A Kysely driver over a node-postgres pool (PostgreSQL or PGlite) that binds every
 * query to the scope in force. Application code does not use it directly:
 * `SharedSchemaIsolation.kysely()` builds the Kysely instance around it.
 */
export class TenantDriver implements Driver {
  readonly #options: TenantDriverOptions
  #closed = false

  constructor(options: TenantDriverOptions) {
    this.#options = options
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#closed) throw new TenantryError('INTERNAL', 'The Tenantry driver was destroyed; create a new Kysely instance')
    const scope = queryScope()
    const routed = await this.#options.route.acquire(scope)
    return new TenantConnection(routed, this.#options, scope)
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await (connection as TenantConnection).begin(settings)
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as TenantConnection).end('commit')
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as TenantConnection).end('rollback')
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await savepointCommand(connection, 'savepoint', name, compile)
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await savepointCommand(connection, 'rollback to savepoint', name, compile)
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    await savepointCommand(connection, 'release savepoint', name, compile)
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await (connection as TenantConnection).release()
  }

  async destroy(): Promise<void> {
    this.#closed = true
  }
}

const SAVEPOINT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

async function savepointCommand(connection: DatabaseConnection, command: string, name: string, _compile: QueryCompiler['compileQuery']): Promise<void> {
  if (!SAVEPOINT_NAME.test(name)) throw new TenantryError('VALIDATION_FAILED', `Savepoint name "${name}" must be a plain identifier`)
  await (connection as TenantConnection).plain(`${command} "${name}"`)
}


/**
 * Runs `fn` with a raw node-postgres client inside one transaction of the scope in
 * force: BEGIN and the scope's settings (role, scope token, search_path) go out
 * in one round trip, then COMMIT, or ROLLBACK if `fn` throws. For SQL the query
 * builder cannot express; in the shared model only RLS guards it (the plugin does
 * not see raw SQL), so keep both walls up. The client works only inside `fn` and
 * only in the scope it was opened in; the connection's session is reset before
 * it serves anyone else.
 *
 * @example
 * await runWithTenant(acme, () => withScopedClient(data.route(), (client) =>
 *   client.query('select count(*) from projects')))
 */
export async function withScopedClient<T>(route: ConnectionRoute, fn: (client: ScopedClient) => Promise<T>, options: { stats?: DriverStats } = {}): Promise<T> {
  const scope = queryScope()
  const routed = await route.acquire(scope)
  // One transaction per callback: its preamble is not worth a cached statement (and with the cache off it must not be one).
  const connection = new TenantConnection(routed, { route, requireStamp: true, stats: options.stats, statementCache: 0 }, scope)
  connection.touched = true
  const extended = scope.kind === 'tenant'
  let open = true
  /** SQL ended the scope's transaction: nothing more runs on this client. */
  let ended = false
  // One query at a time, each checked before the next is sent: node-postgres would
  // send a queued query as soon as the previous one is answered, before its check.
  let queue: Promise<unknown> = Promise.resolve()
  const send = async (config: pg.QueryConfig): Promise<pg.QueryResult> => {
    if (ended) throw transactionEndedError()
    if (!open) throw usedAfterCallback()
    const mark = transactionMarkOf(routed.client)
    let result: pg.QueryResult
    try {
      result = options.stats?.observer === undefined ? await routed.client.query(config) : await observedQuery(options.stats, scope, () => routed.client.query(config))
    } catch (error) {
      if ((error as { code?: unknown }).code === INVALID_SCOPE_SQLSTATE) routed.scopeRefused?.()
      return databaseError(error)
    }
    // SQL that ended the scope's transaction (a commit the check could not see, or
    // `commit and chain`): what followed would run without the scope's settings.
    if (transactionEndedSince(routed.client, mark, config.text, isRollbackToSavepoint)) {
      ended = true
      throw transactionEndedError()
    }
    return result
  }
  const client: ScopedClient = {
    query: ((text: unknown, values?: unknown) => {
      if (!open) return Promise.reject(usedAfterCallback())
      if (scopeKeyOf(currentScope()) !== connection.scopeKey) return Promise.reject(scopeMismatch(scope, currentScope()))
      let config: pg.QueryConfig
      try {
        config = scopedQueryConfig(text, values, extended)
      } catch (error) {
        return Promise.reject(error)
      }
      const run = queue.then(() => send(config))
      queue = run.catch(() => undefined)
      return run
    }) as ScopedClient['query'],
  }
  try {
    await connection.begin({})
    let result: T
    try {
      result = await fn(client)
    } catch (error) {
      open = false
      await connection.end('rollback').catch(() => undefined)
      throw error
    }
    open = false
    await connection.end('commit')
    return result
  } finally {
    open = false
    await connection.release()
  }
}

function usedAfterCallback(): TenantryError {
  return new TenantryError('INTERNAL', 'This scoped client was used after its withClient() callback ended; do all its work inside the callback')
}

/** The config the scoped client sends: refused when it is transaction control (the scope's transaction is Tenantry's). */
function scopedQueryConfig(text: unknown, values: unknown, extended: boolean): pg.QueryConfig {
  const config = queryConfigOf(text, values, extended)
  const command = transactionControlOf(config.text)
  if (command !== undefined) throw transactionControlRefused(command, 'client')
  // `extended`: a tenant scope.
  if (extended) refuseInTenantScope(config.text)
  return config
}

/**
 * The raw client `withScopedClient` lends: node-postgres' `query`, bound to one
 * transaction of one scope.
 *
 * @example
 * const { rows } = await data.withClient((client: ScopedClient) => client.query('select * from projects where id = $1', [id]))
 */
export interface ScopedClient {
  query: pg.ClientBase['query']
}
