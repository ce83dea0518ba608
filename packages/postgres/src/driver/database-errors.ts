import { TenantryError } from '@tenantry/core'
import { FENCED_TENANT_SQLSTATE, INVALID_SCOPE_SQLSTATE } from '../walls/guard-sql.ts'

/**
 * Turns what the database says about the tenant scope into Tenantry's errors, and
 * rethrows anything else as it is:
 *
 * - 3F000 (a schema in the scope's search_path is missing): TENANT_PLACEMENT_MISSING;
 * - TY001 (the scope token was altered, forged or has expired): QUERY_REFUSED;
 * - TY002 (the tenant is fenced for offboarding): TENANT_SUSPENDED;
 * - 42601 "cannot insert multiple commands into a prepared statement" (several
 *   statements in one string, sent with the extended protocol, as a tenant's
 *   SQL always is): QUERY_REFUSED.
 */
export function databaseError(error: unknown): never {
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === '3F000') {
    throw new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant's schema does not exist (${message}); provision the tenant before serving it`, { cause: error })
  }
  if (code === INVALID_SCOPE_SQLSTATE) {
    throw new TenantryError('QUERY_REFUSED', `The database refused the tenant scope of this statement (${message}): SQL in the statement changed the scope setting, or the token expired`, { cause: error })
  }
  if (code === '42601' && /multiple commands/.test(message)) {
    throw new TenantryError('QUERY_REFUSED', 'This SQL holds several statements in one string; SQL run in a tenant scope (and any with parameters) is sent with the extended protocol, one statement per query: split it into separate queries', { cause: error })
  }
  if (code === FENCED_TENANT_SQLSTATE) {
    throw new TenantryError('TENANT_SUSPENDED', `${message.replace(/^tenantry: /, '')}`, { cause: error })
  }
  throw error
}
