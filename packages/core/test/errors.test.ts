import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { errorCatalogue, httpStatusOf, TenantryError, validationError } from '@tenantry/core'

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Map<string, number>()
for (const match of doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) documented.set(match[1]!, Number(match[2]))

describe('error catalogue', () => {
  it('documents every code with its status in docs/errors.md, and nothing else', () => {
    const inCode = new Map(Object.entries(errorCatalogue).map(([code, entry]) => [code, entry.status]))
    assert.deepEqual([...documented.entries()].sort(), [...inCode.entries()].sort())
  })

  it('holds the HTTP contract of the reference SaaS', () => {
    const contract: Record<string, number> = {
      TENANT_NOT_IDENTIFIED: 400, TENANT_NOT_FOUND: 404, TENANT_SUSPENDED: 403, UNAUTHENTICATED: 401,
      TENANT_MISMATCH: 403, VALIDATION_FAILED: 400, NOT_FOUND: 404, CONFLICT: 409, RATE_LIMITED: 429,
      OVERLOADED: 503, INTERNAL: 500,
    }
    for (const [code, status] of Object.entries(contract)) assert.equal(httpStatusOf(code as keyof typeof errorCatalogue), status, code)
  })

  it('serialises to the documented body, details only when present', () => {
    assert.deepEqual(new TenantryError('NOT_FOUND', 'No such project').toJSON(), { error: { code: 'NOT_FOUND', message: 'No such project' } })
    const error = validationError([{ path: 'name', message: 'must be a string' }])
    assert.equal(error.status, 400)
    assert.deepEqual(error.toJSON().error.details, [{ path: 'name', message: 'must be a string' }])
  })
})
