import type pg from 'pg'

/** The server's transaction status after the last exchange: idle, in a transaction, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E'

interface Watched { status: TransactionStatus | undefined }
const watched = new WeakMap<object, Watched>()

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
    const created: Watched = { status: undefined }
    state = created
    watched.set(client, created)
    const connection = (client as unknown as { connection?: { on(event: string, listener: (message: { status?: string }) => void): void } }).connection
    connection?.on('readyForQuery', (message) => {
      created.status = message.status === 'T' || message.status === 'E' ? message.status : 'I'
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

/** Starts watching a client's transaction status (before its first query). */
export function watchTransactionStatus(client: pg.ClientBase): void {
  watch(client)
}
