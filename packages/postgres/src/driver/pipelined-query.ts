import pg from 'pg'
import pgUtils from 'pg/lib/utils.js'

/** One statement of a pipeline: SQL text and its parameters. */
export interface PipelineStatement {
  readonly sql: string
  readonly parameters?: readonly unknown[]
}

/** What one statement of a pipeline returned. */
export interface StatementResult {
  readonly command: string
  readonly rowCount: number | null
  readonly rows: Record<string, unknown>[]
}

type ResultLike = { command: string; rowCount: number | null; rows: Record<string, unknown>[] }
type Done = (error: Error | null, results?: ResultLike | ResultLike[]) => void

// The wire-level representation of a pg connection that a submittable talks to.
interface WireConnection {
  parse(msg: { text: string; name?: string }): void
  bind(msg: { portal?: string; statement?: string; values: readonly unknown[]; valueMapper: (v: unknown) => unknown }): void
  describe(msg: { type: 'P' | 'S'; name?: string }): void
  execute(msg: { portal?: string; rows?: number }): void
}

/**
 * A node-postgres submittable that sends several statements with a single Sync:
 * one network round trip, and (without an explicit BEGIN) one implicit transaction,
 * so `set_config(..., true)` in the first statements holds exactly for the last one.
 * The extended protocol keeps every statement parameterised.
 */
class PipelinedQuery extends (pg.Query as unknown as new (config: object) => object) {
  readonly #preamble: readonly PipelineStatement[]

  constructor(preamble: readonly PipelineStatement[], last: PipelineStatement, callback: Done) {
    super({ text: last.sql, values: last.parameters ? [...last.parameters] : [], callback })
    this.#preamble = preamble
  }

  requiresPreparation(): boolean {
    return true
  }

  prepare(connection: WireConnection): void {
    for (const statement of this.#preamble) {
      connection.parse({ text: statement.sql })
      connection.bind({ portal: '', statement: '', values: statement.parameters ?? [], valueMapper: pgUtils.prepareValue })
      connection.describe({ type: 'P', name: '' })
      connection.execute({ portal: '' })
    }
    ;(pg.Query.prototype as unknown as { prepare(c: WireConnection): void }).prepare.call(this, connection)
  }
}

function toStatementResult(result: ResultLike): StatementResult {
  return { command: result.command, rowCount: result.rowCount, rows: result.rows }
}

/**
 * Runs `statements` on `client` in one round trip and returns each statement's
 * result. Without an explicit BEGIN among them they form one implicit transaction:
 * an error in any statement rolls back all of them.
 */
export function runPipeline(client: pg.ClientBase, statements: readonly PipelineStatement[]): Promise<StatementResult[]> {
  const last = statements.at(-1)
  if (last === undefined) return Promise.resolve([])
  return new Promise<StatementResult[]>((resolve, reject) => {
    const done: Done = (error, results) => {
      if (error) return reject(error)
      const list = Array.isArray(results) ? results : results ? [results] : []
      resolve(list.map(toStatementResult))
    }
    client.query(new PipelinedQuery(statements.slice(0, -1), last, done) as unknown as pg.QueryConfig)
  })
}
