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
 * so `set_config(..., true)` in the first statements holds exactly for the last one.
 * The extended protocol keeps every statement parameterised.
 *
 * The preamble statements are sent without Describe and their answers are
 * skipped (not parsed into rows): only the last statement's result is built.
 */
class PipelinedQuery extends BaseQuery {
  readonly #preamble: readonly PipelineStatement[]
  /** Preamble statements whose CommandComplete has not arrived yet. */
  #pending: number

  constructor(preamble: readonly PipelineStatement[], last: PipelineStatement, callback: Done) {
    super({ text: last.sql, values: last.parameters ? [...last.parameters] : [], callback })
    this.#preamble = preamble
    this.#pending = preamble.length
  }

  requiresPreparation(): boolean {
    return true
  }

  prepare(connection: WireConnection): void {
    for (const statement of this.#preamble) {
      connection.parse({ text: statement.sql })
      connection.bind({ portal: '', statement: '', values: statement.parameters ?? [], valueMapper: pgUtils.prepareValue })
      connection.execute({ portal: '' })
    }
    base.prepare!.call(this, connection)
  }

  handleRowDescription(message: unknown): void {
    if (this.#pending === 0) base.handleRowDescription!.call(this, message)
  }

  handleDataRow(message: unknown): void {
    if (this.#pending === 0) base.handleDataRow!.call(this, message)
  }

  handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.#pending > 0) this.#pending--
    else base.handleCommandComplete!.call(this, message, connection)
  }
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
export function runPipeline(client: pg.ClientBase, statements: readonly PipelineStatement[]): Promise<StatementResult> {
  const last = statements.at(-1)
  if (last === undefined) return Promise.reject(new Error('runPipeline needs at least one statement'))
  return new Promise<StatementResult>((resolve, reject) => {
    const done: Done = (error, result) => {
      if (error) return reject(error)
      const single = Array.isArray(result) ? (result.at(-1) as ResultLike) : result
      if (!single) return reject(new Error('The database returned no result for the pipeline'))
      resolve({ command: single.command, rowCount: single.rowCount, rows: single.rows })
    }
    client.query(new PipelinedQuery(statements.slice(0, -1), last, done) as unknown as pg.QueryConfig)
  })
}
