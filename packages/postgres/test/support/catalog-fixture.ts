import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { isTenantryError, type TenantryErrorCode } from '@tenantry/core'
import { TenantCatalog } from '../../src/catalog/index.ts'
import type { TestBackend, TestDatabase } from '../../../../test/support/backends.ts'

/** A slug unique to this run, so suites can share a database. */
export const slugFor = (base: string): string => `${base}-${randomBytes(4).toString('hex')}`

/** An assert.rejects/throws predicate for a TenantryError code (and message pattern). */
export function rejectsWith(code: TenantryErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isTenantryError(error, code), `expected ${code}, got ${String(error)}`)
    if (pattern) assert.match(error.message, pattern)
    return true
  }
}

/** A fresh database on `backend` with the catalog installed. */
export async function openCatalog(backend: TestBackend): Promise<{ db: TestDatabase; catalog: TenantCatalog }> {
  const db = await backend.createDatabase()
  const catalog = new TenantCatalog({ target: db })
  await catalog.install()
  return { db, catalog }
}
