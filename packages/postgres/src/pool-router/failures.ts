import { TenantryError, isTenantryError } from '@tenantry/core'
import { databaseId, describeKey, type ResolvedDatabaseKey } from './contract.ts'

/**
 * SQLSTATEs that say the whole server is going down or not up yet. (53300, too
 * many connections, is left out: the server works, this one connect did not.)
 */
const SERVER_WIDE_SQLSTATES = new Set(['57P01', '57P02', '57P03'])

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * Turns a failed connect into the error a tenant request gets: the catalogue's
 * TENANT_PLACEMENT_MISSING for a database that does not exist (3D000), else
 * TENANT_DATABASE_UNAVAILABLE; the driver's error stays as `cause`.
 */
export function connectFailure(error: unknown, key: ResolvedDatabaseKey): TenantryError {
  if (isTenantryError(error)) return error
  if (errorCode(error) === '3D000') {
    return new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant ${describeKey(key)} does not exist; provision it before serving the tenant.`, {
      cause: error,
    })
  }
  return new TenantryError('TENANT_DATABASE_UNAVAILABLE', `The tenant ${describeKey(key)} cannot be reached; retry later.`, { cause: error })
}

/**
 * Whether a failure is the server's (refused or unreachable, shutting down)
 * rather than one database's: then every database on that server is remembered
 * as down, so its other tenants fail fast instead of each waiting for a connect.
 */
function isServerWide(error: TenantryError): boolean {
  if (error.code !== 'TENANT_DATABASE_UNAVAILABLE') return false
  const cause: unknown = error.cause
  const code = errorCode(cause)
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return true // ECONNREFUSED, ETIMEDOUT, ENOTFOUND, …
  if (code !== undefined && SERVER_WIDE_SQLSTATES.has(code)) return true
  const message = cause instanceof Error ? cause.message : ''
  return /timeout|terminated unexpectedly/i.test(message)
}

interface Remembered {
  readonly error: TenantryError
  readonly until: number
}

/**
 * A short negative cache: after a database (or its whole server) failed to
 * connect, acquires for it fail at once with the same error until `backoffMs`
 * has passed; the first acquire after that tries again. Keeps a down server
 * from costing every request a connect timeout and a budget permit.
 */
export class FailureMemory {
  readonly #backoffMs: number
  readonly #entries = new Map<string, Remembered>()

  constructor(backoffMs: number) {
    this.#backoffMs = backoffMs
  }

  remember(key: ResolvedDatabaseKey, error: TenantryError, now = Date.now()): void {
    if (this.#backoffMs <= 0) return
    if (this.#entries.size > 1000) this.#prune(now)
    const until = now + this.#backoffMs
    this.#entries.set(`db:${databaseId(key)}`, { error, until })
    if (isServerWide(error)) this.#entries.set(`server:${key.server}`, { error, until })
  }

  /** The error to fail with now, if the database or its server failed recently. */
  recall(key: ResolvedDatabaseKey, now = Date.now()): TenantryError | undefined {
    const own = this.#live(`db:${databaseId(key)}`, now)
    const remembered = own ?? this.#live(`server:${key.server}`, now)
    if (remembered === undefined) return undefined
    const { code, message, cause } = remembered.error
    const said = own ? message : `The tenant ${describeKey(key)} cannot be reached: its server is down; retry later.`
    return new TenantryError(code, said, { cause, details: { retryAfterMs: remembered.until - now } })
  }

  /** Forgets a database's failure (and its server's), e.g. right after provisioning it. */
  forget(key: ResolvedDatabaseKey): void {
    // Every login of the database: a failure is remembered per pool, and each login has one.
    const prefix = `db:${databaseId({ server: key.server, database: key.database })}`
    for (const id of [...this.#entries.keys()]) {
      if (id === prefix || id.startsWith(`${prefix}\u0000`)) this.#entries.delete(id)
    }
    this.#entries.delete(`server:${key.server}`)
  }

  #live(id: string, now: number): Remembered | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    if (entry.until > now) return entry
    this.#entries.delete(id)
    return undefined
  }

  #prune(now: number): void {
    for (const [id, entry] of this.#entries) if (entry.until <= now) this.#entries.delete(id)
  }
}
