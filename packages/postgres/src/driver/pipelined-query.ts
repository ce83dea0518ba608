/// <reference path="./pg-internals.d.ts" />
import pg from 'pg'
import pgUtils from 'pg/lib/utils.js'

/** One statement of a pipeline: SQL text and its parameters. */
export interface PipelineStatement {
  readonly sql: string
  readonly parameters?: readonly unknown[]
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
  bind(msg: { portal?: string; statement?: string; values: readonly unknown[]; valueMapper: (v: unknown) => unknown }): void
  execute(msg: { portal?: string; rows?: number }): void
}

const BaseQuery = pg.Query as unknown as new (config: object) => object
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
 */
class PipelinedQuery extends BaseQuery {
  readonly #before: readonly PipelineStatement[]
  readonly #after: readonly PipelineStatement[]
  /** Statements before the main one whose CommandComplete has not arrived yet. */
  #pending: number
  /** The main statement's CommandComplete (or EmptyQueryResponse) has arrived. */
  #mainDone = false

  constructor(before: readonly PipelineStatement[], main: PipelineMain, after: readonly PipelineStatement[], callback: Done) {
    super({ ...main, values: main.values ? [...main.values] : [], callback })
    this.#before = before
    this.#after = after
    this.#pending = before.length
  }

  requiresPreparation(): boolean {
    return true
  }

  prepare(connection: WireConnection): void {
    for (const statement of this.#before) send(connection, statement)
    base.prepare!.call(this, connection)
  }

  /** Called by the main statement's prepare: its Execute, the statements after it, then the one Sync. */
  _getRows(connection: WireConnection & { sync(): void }, rows: unknown): void {
    connection.execute({ portal: (this as unknown as { portal?: string }).portal ?? '', rows: rows as number | undefined })
    for (const statement of this.#after) send(connection, statement)
    connection.sync()
  }

  #isMain(): boolean {
    return this.#pending === 0 && !this.#mainDone
  }

  handleRowDescription(message: unknown): void {
    if (this.#isMain()) base.handleRowDescription!.call(this, message)
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
      base.handleCommandComplete!.call(this, message, connection)
    }
  }
}

function send(connection: WireConnection, statement: PipelineStatement): void {
  connection.parse({ text: statement.sql })
  connection.bind({ portal: '', statement: '', values: statement.parameters ?? [], valueMapper: pgUtils.prepareValue })
  connection.execute({ portal: '' })
}

/** The statement whose result a pipeline returns: node-postgres' query config (text, values, rowMode, types, name). */
export interface PipelineMain {
  readonly text: string
  readonly values?: readonly unknown[] | undefined
  readonly rowMode?: string | undefined
  readonly types?: unknown
  readonly name?: string | undefined
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
export function runAround(client: pg.ClientBase, before: readonly PipelineStatement[], main: PipelineMain, after: readonly PipelineStatement[] = []): Promise<pg.QueryResult> {
  return new Promise<pg.QueryResult>((resolve, reject) => {
    const done: Done = (error, result) => {
      if (error) return reject(error)
      const single = Array.isArray(result) ? (result.at(-1) as ResultLike) : result
      if (!single) return reject(new Error('The database returned no result for the pipeline'))
      resolve(single as unknown as pg.QueryResult)
    }
    client.query(new PipelinedQuery(before, main, after, done) as unknown as pg.QueryConfig)
  })
}

/**
 * Runs `statements` on `client` in one round trip and returns the last one's
 * result. Without an explicit BEGIN among them they form one implicit transaction:
 * an error in any statement rolls back all of them.
 *
 * @example
 * const result = await runPipeline(client, [
 *   { sql: 'select set_config($1, $2, true)', parameters: ['tenantry.tenant_id', tenant.id] },
 *   { sql: 'select * from projects where id = $1', parameters: [id] },
 * ])
 */
export async function runPipeline(client: pg.ClientBase, statements: readonly PipelineStatement[]): Promise<StatementResult> {
  const last = statements.at(-1)
  if (last === undefined) throw new Error('runPipeline needs at least one statement')
  const result = await runAround(client, statements.slice(0, -1), { text: last.sql, values: last.parameters })
  return { command: result.command, rowCount: result.rowCount, rows: result.rows }
}
