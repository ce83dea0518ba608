import assert from 'node:assert/strict'
import { isTenantryError, type TenantryErrorCode } from '@tenantry/core'

/**
 * An `assert.rejects` / `assert.throws` predicate: the error is a TenantryError
 * with this code (and, when given, a message matching `pattern`).
 *
 * @example
 * await assert.rejects(db.selectFrom('projects').execute(), expectCode('TENANT_CONTEXT_MISSING'))
 */
export function expectCode(code: TenantryErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isTenantryError(error, code), `expected ${code}, got ${String(error)}`)
    if (pattern) assert.match(error.message, pattern)
    return true
  }
}
