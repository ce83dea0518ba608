/// <reference path="./pg-internals.d.ts" />
import pg from 'pg'
import pgUtils from 'pg/lib/utils.js'
import type { CachedStatement, DescribedResult, StatementCache } from './statement-cache.ts'

/** One statement of a pipeline: SQL text and its parameters. */
export interface PipelineStatement {
  readonly sql: string
  readonly parameters?: readonly unknown[]
  /** With a statement cache: send it as a named prepared statement (parsed once per connection). */
  readonly cache?: boolean
  /**
   * What else the parsed statement depends on (the search_path it is parsed
   * under): statements of the same text under another variant are other
   * statements. PostgreSQL re-plans a cached statement when the search_path
   * changes, but keeps the parameter types it resolved at Parse, which may be
   * one schema's types.
   */
  readonly variant?: string
}

/** What the last statement of a pipeline returned. */
export interface StatementResult {
  readonly command: string
  readonly rowCount: number | null
  readonly rows: Record<string, unknown>[]
}

type ResultLike = { command: string; rowCount: number | null; rows: Record<string, unknown>[] }
type Done = (error: Error | null, result?: ResultLike) => void

// The wire-level representation of a pg connection that a submittable talks to.
interface WireConnection {
  parse(msg: { text: string; name?: string }): void
  close(msg: { type: 'S' | 'P'; name: string }): void
  parsedStatements?: Record<string, string>
  submittedNamedStatements?: Record<string, string>
  bind(msg: { portal?: string; statement?: string; values: readonly unknown[]; valueMapper: (v: unknown) => unknown }): void
  execute(msg: { portal?: string; rows?: number }): void
  sync(): void
  readonly stream?: { cork?(): void; uncork?(): void; write?(bytes: Buffer): boolean }
}

const BaseQuery = pg.Query as unknown as new (text: string, values: readonly unknown[], callback: Done) => object

/** The result of a statement that returns no rows (no RowDescription). */
const NO_ROWS: DescribedResult = Object.freeze({ fields: Object.freeze([]), parsers: undefined, emptyRow: null })

/** node-postgres' Result, as far as a described statement sets it up. */
interface ResultFields {
  fields: DescribedResult['fields']
  _parsers: readonly unknown[] | undefined
  _prebuiltEmptyResultObject: object | null
  _types: { getTypeParser(oid: number, format: 'text'): unknown } | undefined
}

/** The fields of node-postgres' Query its constructor sets from a config object. */
interface QueryFields {
  name: string | undefined
  types: unknown
  _rowMode: string | undefined
  _result: object
  _results: object
}
const NO_VALUES: readonly unknown[] = Object.freeze([])
const base = pg.Query.prototype as unknown as Record<string, (this: unknown, ...args: unknown[]) => unknown>

/**
 * A node-postgres submittable that sends several statements with a single Sync:
 * one network round trip, and (without an explicit BEGIN) one implicit transaction,
 * so `set_config(..., true)` in the statements before the main one holds exactly
 * for it. The extended protocol keeps every statement parameterised.
 *
 * The statements around the main one are sent without Describe and their answers
 * are skipped (not parsed into rows): only the main statement's result is built,
 * with its own config (`rowMode`, `types`, `name`).
 *
 * With a statement cache, the main statement (unless its config names its own
 * prepared statement) and the statements marked `cache` are sent as named
 * prepared statements: Parse only the first time on this connection, then Bind
 * and Execute. What the cache must close goes out first. The cache decides at
 * send time (node-postgres calls `prepare` when the query's turn comes), so a
 * queue of queries on one client sees every earlier outcome.
 */
class PipelinedQuery extends BaseQuery {
  readonly #before: readonly PipelineStatement[]
  readonly #after: readonly PipelineStatement[]
  readonly #cache: StatementCache | undefined
  readonly #cacheMain: boolean
  /** The cached statements this round trip used: confirmed when it succeeds, discarded when it fails. */
  readonly #used: CachedStatement[] = []
  /** The main statement must be parsed (it is not yet on this connection). */
  #mainParse = true
  /** The main statement's cache entry, when it is cached. */
  #mainEntry: CachedStatement | undefined
  /** What the server described of the main statement's result in this round trip (kept on success). */
  #described: DescribedResult | undefined
  readonly #mainVariant: string | undefined
  /** Statements before the main one whose CommandComplete has not arrived yet. */
  #pending: number
  /** The main statement's CommandComplete (or EmptyQueryResponse) has arrived. */
  #mainDone = false

  constructor(before: readonly PipelineStatement[], main: PipelineMain, after: readonly PipelineStatement[], callback: Done, cache: StatementCache | undefined) {
    // From the text alone: node-postgres copies a config object by its property
    // descriptors, which costs more than the rest of building the query.
    super(main.text, main.values ?? NO_VALUES, (error: Error | null, result?: ResultLike) => {
      this.#settle(error === null)
      callback(error, result)
    })
    const query = this as unknown as QueryFields
    if (main.name !== undefined) query.name = main.name
    if (main.rowMode !== undefined || main.types !== undefined) {
      query.types = main.types
      query._rowMode = main.rowMode
      const ResultOf = query._result.constructor as new (rowMode: string | undefined, types: unknown) => object
      query._result = query._results = new ResultOf(main.rowMode, main.types)
    }
    this.#before = before
    this.#after = after
    this.#pending = before.length
    this.#cache = cache
    this.#cacheMain = cache !== undefined && main.name === undefined && main.cache !== false
    this.#mainVariant = main.variant
  }

  /** Tells the cache how the round trip ended. */
  #settle(succeeded: boolean): void {
    if (this.#cache === undefined || this.#used.length === 0) return
    if (!succeeded) return this.#cache.discard(this.#used)
    for (const entry of this.#used) entry.parsed = true
    if (this.#mainEntry !== undefined && this.#described !== undefined) this.#mainEntry.described = this.#described
  }

  requiresPreparation(): boolean {
    return true
  }

  hasBeenParsed(connection: WireConnection): boolean {
    return this.#cacheMain ? !this.#mainParse : (base.hasBeenParsed!.call(this, connection) as boolean)
  }

  prepare(connection: WireConnection): void {
    // Every message of the round trip in one write: node-postgres writes each on its own.
    const stream = connection.stream
    stream?.cork?.()
    try {
      this.#prepare(connection)
    } finally {
      stream?.uncork?.()
    }
  }

  #prepare(connection: WireConnection): void {
    const cache = this.#cache
    if (cache !== undefined) for (const name of cache.takeClosing(connection)) connection.close({ type: 'S', name })
    for (const statement of this.#before) send(connection, statement, this.#named(statement))
    if (this.#cacheMain) {
      const entry = this.#named({ sql: (this as unknown as { text: string }).text, cache: true, variant: this.#mainVariant })!
      ;(this as unknown as { name?: string }).name = entry.name
      this.#mainParse = !entry.parsed
      this.#mainEntry = entry
      if (entry.parsed && entry.described !== undefined && this.#bindDescribed(connection, entry.described)) return
    }
    base.prepare!.call(this, connection)
  }

  /**
   * A statement already on the connection whose result columns are known: Bind
   * and Execute, no Describe, the result set up from what was described. False
   * (nothing sent) when node-postgres' type parsers changed since.
   */
  #bindDescribed(connection: WireConnection, described: DescribedResult): boolean {
    const query = this as unknown as QueryFields & { name: string; values: readonly unknown[]; _accumulateRows: boolean }
    const result = query._result as ResultFields
    const types = result._types ?? pg.types
    const parsers = described.parsers
    if (parsers !== undefined) {
      for (let i = 0; i < described.fields.length; i++) {
        const field = described.fields[i]!
        if (parsers[i] !== types.getTypeParser(field.dataTypeID, (field.format ?? 'text') as 'text')) return false
      }
    }
    try {
      connection.bind({ portal: '', statement: query.name, values: query.values, valueMapper: pgUtils.prepareValue })
    } catch (error) {
      // As node-postgres does for a value it cannot serialise.
      connection.close({ type: 'S', name: query.name })
      connection.sync()
      ;(this as unknown as { handleError(error: unknown, connection: unknown): void }).handleError(error, connection)
      return true
    }
    result.fields = described.fields
    result._parsers = parsers
    result._prebuiltEmptyResultObject = described.emptyRow
    query._accumulateRows = true
    this.#described = described
    this._getRows(connection, undefined)
    return true
  }

  /** The cached statement for a statement marked `cache` (recorded as used by this round trip), or none. */
  #named(statement: PipelineStatement): CachedStatement | undefined {
    if (statement.cache !== true || this.#cache === undefined) return undefined
    const entry = this.#cache.use(statement.variant === undefined ? statement.sql : `${statement.sql}\u0000${statement.variant}`)
    this.#used.push(entry)
    return entry
  }

  /** Called by the main statement's prepare: its Execute, the statements after it, then the one Sync. */
  _getRows(connection: WireConnection, rows: unknown): void {
    connection.execute({ portal: (this as unknown as { portal?: string }).portal ?? '', rows: rows as number | undefined })
    const after = this.#after
    if (after.length > 1 && connection.stream?.write !== undefined && plain(after)) connection.stream.write(messagesOf(after))
    else for (const statement of after) send(connection, statement, this.#named(statement))
    connection.sync()
  }

  #isMain(): boolean {
    return this.#pending === 0 && !this.#mainDone
  }

  handleRowDescription(message: unknown): void {
    if (!this.#isMain()) return
    base.handleRowDescription!.call(this, message)
    if (this.#mainEntry === undefined) return
    const result = (this as unknown as QueryFields)._result as ResultFields
    this.#described = { fields: Object.freeze(result.fields), parsers: result._parsers && Object.freeze(result._parsers), emptyRow: result._prebuiltEmptyResultObject }
  }

  handleDataRow(message: unknown): void {
    if (this.#isMain()) base.handleDataRow!.call(this, message)
  }

  handleEmptyQuery(_connection: unknown): void {
    if (this.#isMain()) this.#mainDone = true
  }

  handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.#pending > 0) {
      this.#pending--
    } else if (!this.#mainDone) {
      this.#mainDone = true
      // Described, and no RowDescription came: a statement that returns no rows.
      if (this.#mainEntry !== undefined && this.#described === undefined) this.#described = NO_ROWS
      base.handleCommandComplete!.call(this, message, connection)
    }
  }
}

/**
 * The wire messages of statements with no parameters, sent unnamed (Parse,
 * Bind, Execute each), serialised once per list: the session reset's dozen
 * statements go out as one prebuilt buffer instead of being encoded per query.
 */
const prebuilt = new WeakMap<readonly PipelineStatement[], Buffer>()

function messagesOf(statements: readonly PipelineStatement[]): Buffer {
  let bytes = prebuilt.get(statements)
  if (bytes === undefined) {
    const parts: Buffer[] = []
    for (const { sql } of statements) {
      const text = Buffer.from(sql, 'utf8')
      // Parse: unnamed statement, the text, no parameter types.
      const parse = Buffer.alloc(1 + 4 + 1 + text.length + 1 + 2)
      parse.write('P', 0, 'latin1')
      parse.writeInt32BE(parse.length - 1, 1)
      text.copy(parse, 6)
      parts.push(parse)
      // Bind: unnamed portal and statement, no parameters, text results.
      parts.push(Buffer.from([0x42, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]))
      // Execute: unnamed portal, every row.
      parts.push(Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]))
    }
    bytes = Buffer.concat(parts)
    prebuilt.set(statements, bytes)
  }
  return bytes
}

/** Statements the prebuilt buffer can carry: no parameters, none cached. */
function plain(statements: readonly PipelineStatement[]): boolean {
  for (const statement of statements) if (statement.parameters !== undefined || statement.cache === true) return false
  return true
}

function send(connection: WireConnection, statement: PipelineStatement, cached: CachedStatement | undefined): void {
  if (cached === undefined || !cached.parsed) connection.parse({ text: statement.sql, ...(cached ? { name: cached.name } : {}) })
  connection.bind({ portal: '', statement: cached?.name ?? '', values: statement.parameters ?? [], valueMapper: pgUtils.prepareValue })
  connection.execute({ portal: '' })
}

/** The statement whose result a pipeline returns: node-postgres' query config (text, values, rowMode, types, name). */
export interface PipelineMain {
  readonly text: string
  readonly values?: readonly unknown[] | undefined
  readonly rowMode?: string | undefined
  readonly types?: unknown
  readonly name?: string | undefined
  /** false: never from the statement cache (a statement the caller knows is one-off). */
  readonly cache?: boolean
  /** See PipelineStatement.variant. */
  readonly variant?: string | undefined
}

/**
 * Runs `before`, `main` and `after` on `client` in one round trip and resolves
 * with node-postgres' full result of `main` (rows in its `rowMode`, `fields`,
 * `command`, `rowCount`). Without an explicit BEGIN among them they form one
 * implicit transaction: an error in any statement rolls back all of them.
 *
 * @example
 * const result = await runAround(client, [preamble], { text: 'select * from projects', rowMode: 'array' }, resetStatements)
 */
export function runAround(
  client: pg.ClientBase,
  before: readonly PipelineStatement[],
  main: PipelineMain,
  after: readonly PipelineStatement[] = [],
  cache?: StatementCache,
): Promise<pg.QueryResult> {
  return new Promise<pg.QueryResult>((resolve, reject) => {
    const done: Done = (error, result) => {
      if (error) return reject(error)
      const single = Array.isArray(result) ? (result.at(-1) as ResultLike) : result
      if (!single) return reject(new Error('The database returned no result for the pipeline'))
      resolve(single as unknown as pg.QueryResult)
    }
    client.query(new PipelinedQuery(before, main, after, done, cache) as unknown as pg.QueryConfig)
  })
}

/**
 * Runs `statements` (then `after`, whose results are skipped) on `client` in
 * one round trip and returns the last of `statements`' result. Without an explicit BEGIN among them they form one implicit transaction:
 * an error in any statement rolls back all of them.
 *
 * @example
 * const result = await runPipeline(client, [
 *   { sql: 'select set_config($1, $2, true)', parameters: ['tenantry.tenant_id', tenant.id] },
 *   { sql: 'select * from projects where id = $1', parameters: [id] },
 * ])
 */
export async function runPipeline(
  client: pg.ClientBase,
  statements: readonly PipelineStatement[],
  cache?: StatementCache,
  after: readonly PipelineStatement[] = [],
): Promise<StatementResult> {
  const last = statements.at(-1)
  if (last === undefined) throw new Error('runPipeline needs at least one statement')
  const result = await runAround(client, statements.slice(0, -1), { text: last.sql, values: last.parameters, cache: last.cache === true, variant: last.variant }, after, cache)
  return { command: result.command, rowCount: result.rowCount, rows: result.rows }
}
