import type pg from 'pg'
import { clearStatementCache } from './statement-cache.ts'

/** The server's transaction status after the last exchange: idle, in a transaction, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E'

interface Watched {
  status: TransactionStatus | undefined
  /** Statements the server reported as COMMIT (`commit`, `end`, `commit and chain`) or PREPARE TRANSACTION. */
  commits: number
  /** Statements the server reported as ROLLBACK (`rollback and chain` among them, and `rollback to savepoint`). */
  rollbacks: number
}
const watched = new WeakMap<object, Watched>()

/** Command tags of statements that end the transaction even when another begins at once (`commit and chain`). */
const COMMIT_TAG = /^(?:COMMIT|PREPARE TRANSACTION)\b/
const ROLLBACK_TAG = /^ROLLBACK\b/

/**
 * Follows the transaction status the server reports with every ReadyForQuery,
 * for one client (set up once per physical connection). SQL run in a tenant
 * scope can open or end a transaction (`begin`, `commit` in a trusted
 * statement): the driver checks the status after each exchange, so a
 * transaction that outlives its statement, or ends under a scoped one, never
 * goes unnoticed.
 */
function watch(client: pg.ClientBase): Watched {
  let state = watched.get(client)
  if (state === undefined) {
    const created: Watched = { status: undefined, commits: 0, rollbacks: 0 }
    state = created
    watched.set(client, created)
    const connection = (client as unknown as { connection?: { on(event: string, listener: (message: { status?: string; text?: string }) => void): void } }).connection
    connection?.on('readyForQuery', (message) => {
      created.status = message.status === 'T' || message.status === 'E' ? message.status : 'I'
    })
    // `commit and chain` ends the transaction and opens the next at once: the status alone stays 'T'.
    connection?.on('commandComplete', (message) => {
      if (typeof message.text !== 'string') return
      if (COMMIT_TAG.test(message.text)) created.commits++
      else if (ROLLBACK_TAG.test(message.text)) created.rollbacks++
    })
  }
  return state
}

/**
 * A pooled client while it is checked out. pg-pool stops listening for a
 * checked-out client's errors, so a connection the server closes meanwhile (a
 * restart, a `pg_terminate_backend` from another session) would crash the
 * process with an unhandled 'error': listen while it is held, and give it back
 * as broken. Also reports the server's transaction status.
 *
 * @example
 * const held = holdClient(await pool.connect())
 * try { await held.client.query('select 1') } finally { held.release() }
 */
export interface HeldClient {
  readonly client: pg.PoolClient
  /** The transaction status after the last exchange (undefined before the first on this connection). */
  transactionStatus(): TransactionStatus | undefined
  /** True once the client reported an error while held. */
  readonly lost: boolean
  release(destroy?: boolean): void
}

export function holdClient(client: pg.PoolClient): HeldClient {
  const state = watch(client)
  let lost = false
  const onError = (): void => {
    lost = true
  }
  client.on('error', onError)
  let released = false
  return {
    client,
    transactionStatus: () => state.status,
    get lost() {
      return lost
    },
    release(destroy = false) {
      if (released) return
      released = true
      client.off('error', onError)
      client.release(destroy || lost)
    },
  }
}

/** The transaction status of any client (watched from the first call on). */
export function transactionStatusOf(client: pg.ClientBase): TransactionStatus | undefined {
  return watch(client).status
}

/** Where a client's transaction ends stood before a statement: compare with `transactionEndedSince`. */
export interface TransactionMark {
  readonly commits: number
  readonly rollbacks: number
}

/** The client's COMMIT and ROLLBACK counts now. */
export function transactionMarkOf(client: pg.ClientBase): TransactionMark {
  const state = watch(client)
  return { commits: state.commits, rollbacks: state.rollbacks }
}

/**
 * True when the statement `sql`, run on `client` since `mark`, ended the
 * transaction it ran in: the status went idle, or the server reported a COMMIT,
 * or a ROLLBACK the statement's text does not show as `ROLLBACK TO SAVEPOINT`
 * (`rollback and chain` ends the transaction and opens the next at once, so the
 * status alone stays in a transaction).
 */
export function transactionEndedSince(client: pg.ClientBase, mark: TransactionMark, sql: string, savepointRollback: (sql: string) => boolean): boolean {
  const state = watch(client)
  if (state.status === 'I' || state.commits !== mark.commits) return true
  return state.rollbacks !== mark.rollbacks && !savepointRollback(sql)
}

/**
 * Makes node-postgres forget the named statements it believes the server holds,
 * after the session reset deallocated them all (`deallocate all`): otherwise the
 * next user's `{ name, text }` query would skip its Parse and bind a statement
 * that no longer exists, or that another tenant's SQL re-prepared under the
 * same name, or be refused as a duplicate name. False when this client keeps
 * no such record where expected (another client library or version): then the
 * connection must be closed instead of reused.
 */
export function forgetPreparedStatements(client: pg.ClientBase): boolean {
  const connection = (client as unknown as { connection?: { parsedStatements?: unknown; submittedNamedStatements?: unknown } }).connection
  if (connection === undefined || typeof connection.parsedStatements !== 'object' || connection.parsedStatements === null) return false
  connection.parsedStatements = {}
  clearStatementCache(client)
  if (typeof connection.submittedNamedStatements === 'object' && connection.submittedNamedStatements !== null) connection.submittedNamedStatements = {}
  return true
}

/** Starts watching a client's transaction status (before its first query). */
export function watchTransactionStatus(client: pg.ClientBase): void {
  watch(client)
}
