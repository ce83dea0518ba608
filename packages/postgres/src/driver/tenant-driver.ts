import { TenantryError, currentScope, type Scope } from '@tenantry/core'
import { SYSTEM_STAMP, tenantStampOf } from '@tenantry/kysely'
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
import { runPipeline, type PipelineStatement, type StatementResult } from './pipelined-query.ts'
import { setConfigParameters, setConfigSql, type ScopeSetting } from './scope-binding.ts'

/** Counts what the driver sent, for benchmarks and tests. */
export interface DriverStats {
  /** Network round trips (one Sync or simple query each). */
  roundTrips: number
  /** Statements executed, including the scope preamble. */
  statements: number
  /** Transactions opened (implicit pipelined ones included). */
  transactions: number
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
}

const AFFECTING = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE'])

function toQueryResult<R>(result: StatementResult): QueryResult<R> {
  return {
    rows: result.rows as R[],
    numAffectedRows: AFFECTING.has(result.command) && result.rowCount !== null ? BigInt(result.rowCount) : undefined,
  }
}

function tenantIdOf(scope: Scope | undefined): string | undefined {
  return scope?.kind === 'tenant' ? scope.tenant.id : undefined
}

/**
 * One pooled connection. Outside an explicit transaction, a query in scope is sent
 * together with its `set_config(..., true)` preamble in one round trip, as one
 * implicit transaction; inside one, the preamble went out with BEGIN.
 */
class TenantConnection implements DatabaseConnection {
  readonly client: pg.ClientBase
  readonly routed: RoutedConnection
  readonly #options: TenantDriverOptions
  /** The scope the open transaction was begun for; undefined outside a transaction. */
  #transactionScope: { tenantId: string | undefined } | undefined
  discarded = false

  constructor(routed: RoutedConnection, options: TenantDriverOptions) {
    this.routed = routed
    this.client = routed.client
    this.#options = options
  }

  #count(roundTrips: number, statements: number, transactions: number): void {
    const stats = this.#options.stats
    if (!stats) return
    stats.roundTrips += roundTrips
    stats.statements += statements
    stats.transactions += transactions
  }

  #guard(compiled: CompiledQuery, scope: Scope | undefined): void {
    if (scope?.kind !== 'tenant' || !this.#options.requireStamp) return
    const stamp = tenantStampOf(compiled.query)
    if (stamp === scope.tenant.id) return
    if (stamp === undefined || stamp === SYSTEM_STAMP) {
      throw new TenantryError(
        'QUERY_REFUSED',
        'This query was not compiled by the tenant plugin for the current tenant (a hand-built CompiledQuery or one compiled in a system scope); build it with the scoped Kysely instance inside the tenant scope',
      )
    }
    throw new TenantryError('TENANT_MISMATCH', `This query was compiled for another tenant and cannot run for tenant "${scope.tenant.slug}"; compile it again inside this tenant's scope`)
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const scope = currentScope()
    this.#guard(compiled, scope)
    if (this.#transactionScope !== undefined) {
      if (this.#transactionScope.tenantId !== tenantIdOf(scope)) {
        throw new TenantryError('TENANT_MISMATCH', 'This transaction was begun for another scope; a transaction serves exactly one tenant (or the system scope)')
      }
      return this.#single(compiled)
    }
    const settings = this.routed.binding.settingsFor(scope)
    if (settings.length === 0) return this.#single(compiled)
    const results = await this.#run([preamble(settings), { sql: compiled.sql, parameters: compiled.parameters }])
    this.#count(0, 0, 1)
    return toQueryResult(results)
  }

  /** One statement with nothing to pipeline: node-postgres' own path, the cheapest. */
  async #single<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.client.query(compiled.sql, compiled.parameters as unknown[])
    this.#count(1, 1, 0)
    return toQueryResult({ command: result.command, rowCount: result.rowCount, rows: result.rows })
  }

  async #run(statements: readonly PipelineStatement[]): Promise<StatementResult> {
    const result = await runPipeline(this.client, statements).catch(placementError)
    this.#count(1, statements.length, 0)
    return result
  }

  async begin(settings: TransactionSettings): Promise<void> {
    const scope = currentScope()
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
      await runPipeline(this.client, statements)
    } catch (error) {
      // BEGIN ran and a setting failed: the transaction block is open and aborted.
      // Close it here, since Kysely will not roll back a transaction whose begin failed.
      await runPipeline(this.client, [{ sql: 'rollback' }]).catch(() => {
        this.discarded = true
      })
      placementError(error)
    }
    this.#count(1, statements.length, 1)
    this.#transactionScope = { tenantId: tenantIdOf(scope) }
  }

  async end(command: 'commit' | 'rollback'): Promise<void> {
    try {
      const result = await runPipeline(this.client, [{ sql: command }])
      this.#count(1, 1, 0)
      if (command === 'commit' && result.command === 'ROLLBACK') {
        throw new TenantryError('INTERNAL', 'The transaction was rolled back by the database because a statement in it failed')
      }
    } catch (error) {
      if (command === 'rollback') this.discarded = true
      throw error
    } finally {
      this.#transactionScope = undefined
    }
  }

  async plain(sql: string): Promise<void> {
    await runPipeline(this.client, [{ sql }])
    this.#count(1, 1, 0)
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Streaming needs a cursor held open across round trips; inside an explicit
    // transaction the scope holds, so it is served there in one chunk.
    yield await this.executeQuery<R>(compiled)
  }
}

/** A scope setting that names a missing schema is the tenant's placement missing. */
function placementError(error: unknown): never {
  if ((error as { code?: unknown }).code === '3F000') {
    throw new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant's schema does not exist (${(error as Error).message}); provision the tenant before serving it`, { cause: error })
  }
  throw error
}

function preamble(settings: readonly ScopeSetting[]): PipelineStatement {
  return { sql: setConfigSql(settings), parameters: setConfigParameters(settings) }
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
    const routed = await this.#options.route.acquire(currentScope())
    return new TenantConnection(routed, this.#options)
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
    const tenantConnection = connection as TenantConnection
    tenantConnection.routed.release(tenantConnection.discarded)
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
 * force: BEGIN and the scope's settings (role, tenant id, search_path) go out in one
 * round trip, then COMMIT, or ROLLBACK if `fn` throws. For SQL the query builder
 * cannot express; in the shared model only RLS guards it (the plugin does not see
 * raw SQL), so keep both walls up.
 *
 * @example
 * await runWithTenant(acme, () => withScopedClient(data.route(), (client) =>
 *   client.query('select count(*) from projects')))
 */
export async function withScopedClient<T>(route: ConnectionRoute, fn: (client: pg.ClientBase) => Promise<T>, options: { stats?: DriverStats } = {}): Promise<T> {
  const routed = await route.acquire(currentScope())
  const connection = new TenantConnection(routed, { route, requireStamp: true, stats: options.stats })
  try {
    await connection.begin({})
    let result: T
    try {
      result = await fn(routed.client)
    } catch (error) {
      await connection.end('rollback').catch(() => undefined)
      throw error
    }
    await connection.end('commit')
    return result
  } finally {
    routed.release(connection.discarded)
  }
}
