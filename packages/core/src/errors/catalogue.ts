/**
 * The one error catalogue of Tenantry, and the HTTP contract with it. Every
 * error a caller can meet has a stable code (never reused for another meaning),
 * the HTTP status every adapter answers with, what of it a response body may
 * show (`exposure`), and a one-line description that `docs/errors.md` repeats
 * (a test keeps the two in step).
 *
 * - `as-is`: the body carries the code and the message as raised: written for
 *   the caller (the HTTP contract's codes).
 * - `generic`: the code with `publicMessage`: the caller may act on the code
 *   (retry), but the message names databases or hosts.
 * - `internal`: a programming or deployment error: the body says 500 INTERNAL
 *   and nothing more; the log has the code and message.
 */
export type ErrorExposure = 'as-is' | 'generic' | 'internal'

/** One entry of the catalogue. */
export interface ErrorEntry {
  readonly status: number
  readonly exposure: ErrorExposure
  /** The message a response body carries instead of the raised one (`generic` exposure). */
  readonly publicMessage?: string
  readonly description: string
}

export const errorCatalogue = {
  TENANT_CONTEXT_MISSING: {
    exposure: 'internal',
    status: 500,
    description: 'Tenant-scoped code ran with no tenant in context; wrap the work in runWithTenant() (or runAsSystem() for audited cross-tenant work).',
  },
  TENANT_CONTEXT_CONFLICT: {
    exposure: 'internal',
    status: 500,
    description: 'A different tenant was entered inside a tenant scope without { switch: true }.',
  },
  TENANT_NOT_IDENTIFIED: {
    exposure: 'as-is',
    status: 400,
    description: 'No tenant could be read from the request on a tenant route.',
  },
  TENANT_NOT_FOUND: {
    exposure: 'as-is',
    status: 404,
    description: 'The identifier names no tenant (deleted ones included).',
  },
  TENANT_SUSPENDED: {
    exposure: 'as-is',
    status: 403,
    description: 'The tenant exists but is not active (suspended, provisioning, offboarding); a write by a tenant whose offboarding fenced it is refused by the database the same way.',
  },
  TENANT_MISMATCH: {
    exposure: 'as-is',
    status: 403,
    description: 'A key, token, header or row value names another tenant than the one in scope.',
  },
  UNAUTHENTICATED: {
    exposure: 'as-is',
    status: 401,
    description: 'Missing or unknown API key or admin token.',
  },
  VALIDATION_FAILED: {
    exposure: 'as-is',
    status: 400,
    description: 'Bad input (body, params, query, slug, id); `details` says which field and why.',
  },
  NOT_FOUND: {
    exposure: 'as-is',
    status: 404,
    description: 'No such row for this tenant (another tenant\'s row looks exactly like this).',
  },
  CONFLICT: {
    exposure: 'as-is',
    status: 409,
    description: 'The change conflicts with current state: a slug taken, a status change not allowed.',
  },
  SCOPE_MISMATCH: {
    exposure: 'internal',
    status: 500,
    description: 'A connection, transaction or compiled query of one scope was used in another (a programming error: open a new one inside the scope).',
  },
  QUERY_REFUSED: {
    exposure: 'internal',
    status: 500,
    description: 'A query the tenant scope cannot make safe or will not run: raw SQL or MERGE at the root, an UPDATE of tenant_id, EXPLAIN ANALYZE or an unknown EXPLAIN format or option (through the pool: an EXPLAIN option list with quoted names or values), LOCK or ALTER ROLE (USER, GROUP, DATABASE, SYSTEM) in a tenant scope, a compiled query whose SQL or parameters were changed, a transaction opened or ended by SQL (also a CALL outside a transaction, or several statements in one query), or a scope token the database refused (changed by SQL in the statement, or expired).',
  },
  ISOLATION_MISCONFIGURED: {
    exposure: 'internal',
    status: 500,
    description: 'doctor() or the conformance kit found the database unsafe for the chosen isolation model (role, RLS policy, index, a leak), or a tenant is placed in a model this process has not configured, or work that needs a session (migrations, installs, the fleet lock) was asked of a transaction pooler (set `database.directUrl`).',
  },
  TENANT_PLACEMENT_MISSING: {
    exposure: 'internal',
    status: 500,
    description: 'The tenant\'s schema or database does not exist (not provisioned, or dropped); provision it before serving the tenant.',
  },
  TENANT_DATABASE_UNAVAILABLE: {
    exposure: 'generic',
    publicMessage: "The tenant's database is unavailable; retry later",
    status: 503,
    description: 'The server or database holding the tenant\'s data cannot be reached; other tenants are unaffected. Retry later.',
  },
  CONNECTION_BUDGET_EXHAUSTED: {
    exposure: 'generic',
    publicMessage: 'No database connection is free; retry later',
    status: 503,
    description: 'No database connection became free within the wait timeout under the global connection budget; retry later.',
  },
  RATE_LIMITED: {
    exposure: 'as-is',
    status: 429,
    description: 'The tenant is over its rate limit; retry after the Retry-After header.',
  },
  OVERLOADED: {
    exposure: 'as-is',
    status: 503,
    description: 'The tenant\'s concurrency bulkhead is full; retry after the Retry-After header.',
  },
  MIGRATION_FAILED: {
    exposure: 'internal',
    status: 500,
    description: 'A migration failed for a tenant (or the shared or control-plane set); the tenant was rolled back to where it was. See `tenantry migrate status` for the error.',
  },
  MIGRATION_CHECKSUM_MISMATCH: {
    exposure: 'internal',
    status: 500,
    description: 'An applied migration\'s file changed since it ran; restore the file, or write a new migration instead of editing an applied one.',
  },
  MIGRATION_LOCKED: {
    exposure: 'generic',
    publicMessage: 'A migration run is in progress; retry when it ends',
    status: 409,
    description: 'Another migration runner holds the fleet lock; wait for it (--wait) or retry when it ends.',
  },
  INTERNAL: {
    exposure: 'internal',
    status: 500,
    description: 'Anything else; the body carries no stack trace or SQL.',
  },
} as const satisfies Record<string, ErrorEntry>

/** A stable Tenantry error code. */
export type TenantryErrorCode = keyof typeof errorCatalogue

/** The HTTP status an adapter answers for a code. */
export function httpStatusOf(code: TenantryErrorCode): number {
  return errorCatalogue[code].status
}
