import { randomBytes } from 'node:crypto'
import { TenantryError } from '@tenantry/core'

/**
 * How many named prepared statements Tenantry keeps per pooled connection, or
 * `'off'` (every statement parsed and planned again, as node-postgres does
 * without a `name`). Behind a transaction pooler that cannot carry prepared
 * statements (PgBouncer before 1.21 in transaction mode), set `'off'`.
 */
export type StatementCacheSize = number | 'off'

/** The default size: enough for an application's query shapes, small in server memory. */
export const DEFAULT_STATEMENT_CACHE_SIZE = 256

/** The size as a count (0: off); VALIDATION_FAILED for anything but a non-negative integer or 'off'. */
export function statementCacheCapacity(size: StatementCacheSize | undefined): number {
  if (size === undefined) return DEFAULT_STATEMENT_CACHE_SIZE
  if (size === 'off') return 0
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TenantryError('VALIDATION_FAILED', `statementCache must be a whole number of statements (0 or more) or 'off', not ${JSON.stringify(size)}`)
  }
  return size
}

/**
 * Statement names unique in this process and across processes sharing a
 * session (PGlite keeps one session for every client it serves), never chosen
 * by a tenant: `tenantry_<random>_<n>`.
 */
const PREFIX = `tenantry_${randomBytes(4).toString('hex')}_`
let counter = 0

/** One cached statement on one connection. */
export interface CachedStatement {
  readonly name: string
  /** The server has it: send Bind only. False until a round trip that parsed it succeeds. */
  parsed: boolean
  /** When it was last used (the cache's own counter): the least recently used is evicted first. */
  lastUse: number
  /**
   * Its result columns as the server described them (none for a statement that
   * returns no rows), and node-postgres' parsers for them: once known, the
   * statement is executed without a Describe. If its result type changes (DDL),
   * the server refuses the execution (SQLSTATE 0A000) and it is prepared again.
   */
  described?: DescribedResult | undefined
}

/** What node-postgres builds from a RowDescription (its Result's fields, parsers and empty row). */
export interface DescribedResult {
  readonly fields: readonly { readonly name: string; readonly dataTypeID: number; readonly format?: string }[]
  readonly parsers: readonly unknown[] | undefined
  readonly emptyRow: object | null
}

/** pg's record of the statements a connection parsed (node-postgres' Connection). */
interface PgStatementRecord {
  parsedStatements?: Record<string, string>
  submittedNamedStatements?: Record<string, string>
}

/**
 * The named prepared statements of one pooled connection, by SQL text, least
 * recently used first. A statement is parsed (and planned) once per
 * connection and then only bound and executed, for every tenant: the tenant is
 * always a parameter or a transaction-local setting, never part of the text.
 *
 * A name is never reused for another text. A statement evicted, or used in a
 * round trip that failed (it may or may not exist on the server then), is
 * forgotten and closed at the start of the connection's next round trip
 * (closing a statement that does not exist is no error).
 */
export class StatementCache {
  /** The most statements kept; the instance that uses the connection last sets it. */
  capacity: number
  readonly #entries = new Map<string, CachedStatement>()
  #closing: string[] = []
  #tick = 0

  constructor(capacity: number) {
    this.capacity = capacity
  }

  /** How many statements are cached. */
  get size(): number {
    return this.#entries.size
  }

  /** The statement for `sql`, marked most recently used; a new one (to parse) when absent. */
  use(sql: string): CachedStatement {
    let entry = this.#entries.get(sql)
    // A hit only stamps the entry (no reordering of the map): the scan for the least
    // recently used runs on a miss with the cache full, which parsing costs far more than.
    if (entry !== undefined) {
      entry.lastUse = ++this.#tick
      return entry
    }
    while (this.#entries.size >= Math.max(this.capacity, 1)) this.#evictLeastRecentlyUsed()
    entry = { name: `${PREFIX}${++counter}`, parsed: false, lastUse: ++this.#tick }
    this.#entries.set(sql, entry)
    return entry
  }

  #evictLeastRecentlyUsed(): void {
    let oldestSql: string | undefined
    let oldest: CachedStatement | undefined
    for (const [sql, entry] of this.#entries) {
      if (oldest === undefined || entry.lastUse < oldest.lastUse) {
        oldestSql = sql
        oldest = entry
      }
    }
    if (oldestSql === undefined || oldest === undefined) return
    this.#entries.delete(oldestSql)
    this.#closing.push(oldest.name)
  }

  /** After a round trip that failed: these statements are in doubt; forget and close them. */
  discard(used: readonly CachedStatement[]): void {
    const names = new Set(used.map((entry) => entry.name))
    for (const [sql, entry] of this.#entries) {
      if (names.has(entry.name)) {
        this.#entries.delete(sql)
        this.#closing.push(entry.name)
      }
    }
  }

  /** The names to close before the next round trip's statements; pg's record of them is dropped. */
  takeClosing(connection: PgStatementRecord): string[] {
    if (this.#closing.length === 0) return this.#closing
    const names = this.#closing
    this.#closing = []
    for (const name of names) {
      delete connection.parsedStatements?.[name]
      delete connection.submittedNamedStatements?.[name]
    }
    return names
  }

  /** After `DEALLOCATE ALL` (a session reset): the server has none of them any more. */
  clear(): void {
    this.#entries.clear()
    this.#closing = []
  }
}

const caches = new WeakMap<object, StatementCache>()

/**
 * The statement cache of a pooled connection (a node-postgres client), made
 * on first use; `capacity` bounds it from now on (two Kysely instances with
 * different sizes on one connection: the last one's). Undefined when
 * `capacity` is 0 (off).
 *
 * @example
 * const cache = statementCacheOf(client, 256)
 */
export function statementCacheOf(client: object, capacity: number): StatementCache | undefined {
  if (capacity <= 0) return undefined
  let cache = caches.get(client)
  if (cache === undefined) {
    cache = new StatementCache(capacity)
    caches.set(client, cache)
  }
  cache.capacity = capacity
  return cache
}

/** Forgets a connection's cached statements: its session was reset (`DEALLOCATE ALL`). */
export function clearStatementCache(client: object): void {
  caches.get(client)?.clear()
}

/**
 * SQLSTATE 0A000 "cached plan must not change result type": a cached statement
 * whose result columns changed under it (DDL between two executions). The
 * statement is re-prepared; outside an explicit transaction the round trip is
 * sent again. The same for SQLSTATE 26000: a cached statement deallocated by
 * SQL the cache did not send (`DEALLOCATE ALL`).
 */
export function isStalePlanError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null
  // 26000: the statement was deallocated under the cache (raw SQL's DEALLOCATE ALL).
  if (e?.code === '26000') return true
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type')
}
