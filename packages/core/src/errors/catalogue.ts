/**
 * The one error catalogue of Tenantry. Every error a caller can meet has a stable
 * code (never reused for another meaning), an HTTP status that every adapter maps
 * it to, and a one-line description that `docs/errors.md` repeats (a test keeps
 * the two in step).
 */
export const errorCatalogue = {
  TENANT_CONTEXT_MISSING: {
    status: 500,
    description: 'Tenant-scoped code ran with no tenant in context; wrap the work in runWithTenant() (or runAsSystem() for audited cross-tenant work).',
  },
  TENANT_CONTEXT_CONFLICT: {
    status: 500,
    description: 'A different tenant was entered inside a tenant scope without { switch: true }.',
  },
  TENANT_NOT_IDENTIFIED: {
    status: 400,
    description: 'No tenant could be read from the request on a tenant route.',
  },
  TENANT_NOT_FOUND: {
    status: 404,
    description: 'The identifier names no tenant (deleted ones included).',
  },
  TENANT_SUSPENDED: {
    status: 403,
    description: 'The tenant exists but is not active (suspended, provisioning, offboarding); a write by a tenant whose offboarding fenced it is refused by the database the same way.',
  },
  TENANT_MISMATCH: {
    status: 403,
    description: 'A key, token, header or row value names another tenant than the one in scope, or a connection, transaction or compiled query of one scope is used in another.',
  },
  UNAUTHENTICATED: {
    status: 401,
    description: 'Missing or unknown API key or admin token.',
  },
  VALIDATION_FAILED: {
    status: 400,
    description: 'Bad input (body, params, query, slug, id); `details` says which field and why.',
  },
  NOT_FOUND: {
    status: 404,
    description: 'No such row for this tenant (another tenant\'s row looks exactly like this).',
  },
  CONFLICT: {
    status: 409,
    description: 'The change conflicts with current state: a slug taken, a status change not allowed.',
  },
  QUERY_REFUSED: {
    status: 500,
    description: 'A query the tenant scope cannot make safe or will not run: raw SQL or MERGE at the root, an UPDATE of tenant_id, EXPLAIN ANALYZE, a compiled query whose SQL or parameters were changed, a transaction opened or ended by SQL inside a statement, or a scope token the database refused (changed by SQL in the statement, or expired).',
  },
  ISOLATION_MISCONFIGURED: {
    status: 500,
    description: 'doctor() or the conformance kit found the database unsafe for the chosen isolation model (role, RLS policy, index, a leak), or a tenant is placed in a model this process has not configured.',
  },
  TENANT_PLACEMENT_MISSING: {
    status: 500,
    description: 'The tenant\'s schema or database does not exist (not provisioned, or dropped); provision it before serving the tenant.',
  },
  TENANT_DATABASE_UNAVAILABLE: {
    status: 503,
    description: 'The server or database holding the tenant\'s data cannot be reached; other tenants are unaffected. Retry later.',
  },
  CONNECTION_BUDGET_EXHAUSTED: {
    status: 503,
    description: 'No database connection became free within the wait timeout under the global connection budget; retry later.',
  },
  RATE_LIMITED: {
    status: 429,
    description: 'The tenant is over its rate limit; retry after the Retry-After header.',
  },
  OVERLOADED: {
    status: 503,
    description: 'The tenant\'s concurrency bulkhead is full; retry after the Retry-After header.',
  },
  MIGRATION_FAILED: {
    status: 500,
    description: 'A migration failed for a tenant (or the shared or control-plane set); the tenant was rolled back to where it was. See `tenantry migrate status` for the error.',
  },
  MIGRATION_CHECKSUM_MISMATCH: {
    status: 500,
    description: 'An applied migration\'s file changed since it ran; restore the file, or write a new migration instead of editing an applied one.',
  },
  MIGRATION_LOCKED: {
    status: 409,
    description: 'Another migration runner holds the fleet lock; wait for it (--wait) or retry when it ends.',
  },
  INTERNAL: {
    status: 500,
    description: 'Anything else; the body carries no stack trace or SQL.',
  },
} as const satisfies Record<string, { status: number; description: string }>

/** A stable Tenantry error code. */
export type TenantryErrorCode = keyof typeof errorCatalogue

/** The HTTP status an adapter answers for a code. */
export function httpStatusOf(code: TenantryErrorCode): number {
  return errorCatalogue[code].status
}
