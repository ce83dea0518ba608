import { TenantryError } from '@tenantry/core'
import {
  Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type QueryResult, type TransactionSettings,
} from 'kysely'
import pg from 'pg'

/**
 * What a statement run through a `SqlRunner` answers.
 *
 * @example
 * const result: SqlRunnerResult = { rows: [{ id: 1, name: 'Apollo' }], rowCount: 1 }
 */
export interface SqlRunnerResult {
  /** The rows, one object per row keyed by column name (node-postgres' default row mode). */
  readonly rows: readonly Record<string, unknown>[]
  /**
   * Rows the statement returned or touched (node-postgres' `rowCount`): what
   * `kyselyOverRunner` reports as `numUpdatedRows` and `numDeletedRows`. The
   * conformance kit does not need it (it counts with RETURNING).
   */
  readonly rowCount?: number | null
}

/**
 * The transaction settings a `SqlRunner` is asked for, in PostgreSQL's words.
 *
 * @example
 * await runner.transaction?.(async (tx) => tx.query('select 1', []), { isolationLevel: 'serializable' })
 */
export interface SqlTransactionSettings {
  readonly isolationLevel?: 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable'
  readonly accessMode?: 'read only' | 'read write'
}

/**
 * Any SQL client, as the conformance kit (and `kyselyOverRunner`) sees it: runs
 * one PostgreSQL statement with `$1`, `$2`… placeholders and bound parameters,
 * and optionally a callback in one transaction. Write one to prove isolation
 * through the client your application uses (an ORM over `tenantry.pool`,
 * say): every statement of the kit then goes through it.
 *
 * - `query` sends `sql` with `parameters` bound (never inlined into the text),
 *   answers the rows as objects keyed by column name, and throws the
 *   database's error as the client raised it: a
 *   `TenantryError`, or a PostgreSQL error with its SQLSTATE in `code` (an
 *   error that carries either as its `cause`, as Drizzle's do, works too).
 * - `transaction`, when the client has transactions, runs `fn` with a runner
 *   whose statements all belong to one transaction: committed when `fn`
 *   resolves, rolled back when it throws (the error passes through). Inside,
 *   `SAVEPOINT` statements sent through `query` must work. Without it,
 *   `kyselyOverRunner(runner).transaction()` is refused.
 *
 * A `pg.Pool` (or `tenantry.pool`) is a `SqlRunner` as it is, without
 * transactions.
 *
 * @example
 * // Prisma over tenantry.pool (through @prisma/adapter-pg); enough for the kit
 * const prismaRunner = (client: PrismaClient | Prisma.TransactionClient): SqlRunner => ({
 *   query: async (sql, parameters) => ({ rows: await client.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...parameters) }),
 *   ...('$transaction' in client ? { transaction: (fn) => client.$transaction((tx) => fn(prismaRunner(tx))) } : {}),
 * })
 *
 * @example
 * // plain node-postgres: a pool runs statements, a checked-out client gives transactions
 * const runner: SqlRunner = {
 *   query: (sql, parameters) => tenantry.pool.query(sql, [...parameters]),
 *   async transaction(fn) {
 *     const client = await tenantry.pool.connect()
 *     try {
 *       await client.query('begin')
 *       const result = await fn({ query: (sql, parameters) => client.query(sql, [...parameters]) })
 *       await client.query('commit')
 *       return result
 *     } catch (error) {
 *       await client.query('rollback')
 *       throw error
 *     } finally {
 *       client.release()
 *     }
 *   },
 * }
 */
export interface SqlRunner {
  query(sql: string, parameters: readonly unknown[]): Promise<SqlRunnerResult>
  transaction?<T>(fn: (runner: SqlRunner) => Promise<T>, settings?: SqlTransactionSettings): Promise<T>
}

/** What kyselyOverRunner's transaction callback throws to make the runner roll back. */
class RollbackRequested extends Error {
  constructor() {
    super('Rolled back by Kysely')
  }
}

const AFFECTS_ROWS = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode'])

/** A transaction the runner holds open while Kysely sends its statements. */
interface OpenTransaction {
  readonly runner: SqlRunner
  /** Lets the runner's callback return (commit) or throw (rollback). */
  readonly finish: (outcome: 'commit' | 'rollback') => void
  /** The runner's `transaction()` promise. */
  readonly done: Promise<unknown>
}

function transactionSettingsOf(settings: TransactionSettings): SqlTransactionSettings | undefined {
  if (settings.isolationLevel === 'snapshot') throw new TenantryError('VALIDATION_FAILED', 'PostgreSQL has no snapshot isolation level')
  const { isolationLevel, accessMode } = settings
  if (isolationLevel === undefined && accessMode === undefined) return undefined
  return { ...(isolationLevel === undefined ? {} : { isolationLevel }), ...(accessMode === undefined ? {} : { accessMode }) }
}

/** One Kysely connection: statements go to the runner, or to the runner of the transaction it holds open. */
class RunnerConnection implements DatabaseConnection {
  readonly #base: SqlRunner
  #open: OpenTransaction | undefined

  constructor(base: SqlRunner) {
    this.#base = base
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return this.#send<R>(compiled.sql, compiled.parameters, AFFECTS_ROWS.has(compiled.query.kind))
  }

  async #send<R>(sql: string, parameters: readonly unknown[], affectsRows: boolean): Promise<QueryResult<R>> {
    const result = await (this.#open?.runner ?? this.#base).query(sql, parameters)
    const rowCount = result.rowCount
    return {
      rows: result.rows as R[],
      ...(affectsRows && typeof rowCount === 'number' ? { numAffectedRows: BigInt(rowCount) } : {}),
    }
  }

  /** A statement of the open transaction (savepoints). */
  async statement(sql: string): Promise<void> {
    if (this.#open === undefined) throw new TenantryError('INTERNAL', `${sql}: no transaction is open on this connection`)
    await this.#send(sql, [], false)
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new TenantryError('VALIDATION_FAILED', 'A Kysely instance over a SqlRunner cannot stream results; use execute()')
  }

  /**
   * Opens a transaction with the runner's `transaction()`: its callback stays
   * pending, its runner serving this connection, until Kysely commits or rolls back.
   */
  async begin(settings: TransactionSettings): Promise<void> {
    const transaction = this.#base.transaction
    if (transaction === undefined) {
      throw new TenantryError('VALIDATION_FAILED', 'This SqlRunner has no transaction(); give it one to use transactions through kyselyOverRunner()')
    }
    if (this.#open !== undefined) throw new TenantryError('INTERNAL', 'A transaction is already open on this connection')
    const config = transactionSettingsOf(settings)
    let opened!: (runner: SqlRunner) => void
    let finish!: (outcome: 'commit' | 'rollback') => void
    const ready = new Promise<SqlRunner>((resolve) => (opened = resolve))
    const outcome = new Promise<'commit' | 'rollback'>((resolve) => (finish = resolve))
    const callback = async (runner: SqlRunner): Promise<void> => {
      opened(runner)
      if ((await outcome) === 'rollback') throw new RollbackRequested()
    }
    const done = config === undefined ? transaction.call(this.#base, callback) : transaction.call(this.#base, callback, config)
    // Awaited in end(); this keeps a failure before end() from being an unhandled rejection.
    done.catch(() => undefined)
    const runner = await Promise.race([
      ready,
      done.then(() => {
        throw new TenantryError('INTERNAL', 'The SqlRunner\'s transaction() returned without calling its callback')
      }),
    ])
    this.#open = { runner, finish, done }
  }

  /** Commits or rolls back the open transaction: the runner's callback returns or throws. */
  async end(outcome: 'commit' | 'rollback'): Promise<void> {
    const open = this.#open
    if (open === undefined) throw new TenantryError('INTERNAL', `${outcome}: no transaction is open on this connection`)
    this.#open = undefined
    open.finish(outcome)
    try {
      await open.done
    } catch (error) {
      if (outcome === 'rollback' && error instanceof RollbackRequested) return
      throw error
    }
  }

  /** Rolls back a transaction Kysely left open (it never should). */
  async release(): Promise<void> {
    if (this.#open !== undefined) await this.end('rollback').catch(() => undefined)
  }
}

class RunnerDriver implements Driver {
  readonly #runner: SqlRunner

  constructor(runner: SqlRunner) {
    this.#runner = runner
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new RunnerConnection(this.#runner)
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await (connection as RunnerConnection).begin(settings)
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as RunnerConnection).end('commit')
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as RunnerConnection).end('rollback')
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as RunnerConnection).statement(`savepoint ${pg.escapeIdentifier(name)}`)
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as RunnerConnection).statement(`rollback to savepoint ${pg.escapeIdentifier(name)}`)
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as RunnerConnection).statement(`release savepoint ${pg.escapeIdentifier(name)}`)
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await (connection as RunnerConnection).release()
  }

  async destroy(): Promise<void> {}
}

/**
 * A Kysely instance (PostgreSQL dialect) whose every statement goes through
 * `runner`: Kysely compiles, the runner sends the SQL and its parameters.
 * `db.transaction()` (and `trx.savepoint()`) go through `runner.transaction`.
 * Nothing of Tenantry is added: no plugin, no scope of its own; the runner's
 * client decides where each statement runs. The conformance kit uses it to
 * run its probes through any client (`checkTenantIsolation({ runner })`).
 *
 * @example
 * const db = kyselyOverRunner<Database>(drizzleRunner(tenantryDrizzle(tenantry)))
 * await runWithTenant(acme, () => db.selectFrom('projects').selectAll().execute())
 */
export function kyselyOverRunner<DB = any>(runner: SqlRunner): Kysely<DB> {
  if (typeof runner?.query !== 'function') throw new TenantryError('VALIDATION_FAILED', 'kyselyOverRunner needs a SqlRunner: an object with query(sql, parameters)')
  const dialect: Dialect = {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new RunnerDriver(runner),
    createQueryCompiler: () => new PostgresQueryCompiler(),
    createIntrospector: (db) => new PostgresIntrospector(db),
  }
  return new Kysely<DB>({ dialect })
}
