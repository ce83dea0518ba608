import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { errorCatalogue, forbiddenKeys, httpErrorResponse, httpStatusOf, isTenantryError, prepareRefusal, preparedRefusalOf, TenantryError, validationError, type ErrorEntry } from '@tenantry/core'

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Map<string, [number, string, string]>()
for (const match of doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| ([a-z-]+) \| (.*) \|$/gm)) documented.set(match[1]!, [Number(match[2]), match[3]!, match[4]!])

describe('error catalogue', () => {
  it('documents every code with its status, its body and its description in docs/errors.md, and nothing else', () => {
    const inCode = new Map(Object.entries(errorCatalogue).map(([code, entry]) => [code, [entry.status, entry.exposure, entry.description]]))
    assert.deepEqual([...documented.keys()].sort(), [...inCode.keys()].sort())
    for (const [code, [status, exposure, description]] of documented) {
      const entry = errorCatalogue[code as keyof typeof errorCatalogue]
      assert.deepEqual([status, exposure], [entry.status, entry.exposure], code)
      assert.equal(description, entry.description, code)
    }
  })

  it('answers every code over HTTP as the catalogue says: its status, and a body as exposed as it allows', () => {
    for (const [code, entry] of Object.entries(errorCatalogue) as [keyof typeof errorCatalogue, ErrorEntry][]) {
      const raised = new TenantryError(code, 'secret detail: relation "t_acme" on db-7', { headers: { 'Retry-After': '2' } })
      const answer = httpErrorResponse(raised)
      assert.equal(answer.status, entry.status, code)
      if (entry.exposure === 'internal') {
        assert.equal(entry.status, 500, `${code}: an internal code answers 500`)
        assert.deepEqual(answer.body.error, { code: 'INTERNAL', message: answer.body.error.message }, code)
        assert.doesNotMatch(answer.body.error.message, /secret/, code)
      } else if (entry.exposure === 'generic') {
        assert.deepEqual(answer.body.error, { code, message: entry.publicMessage }, code)
        assert.equal(answer.headers['Retry-After'], '2', `${code} keeps its headers`)
      } else {
        assert.equal(answer.body.error.code, code)
        assert.equal(answer.body.error.message, raised.message)
      }
      assert.equal(answer.internal, entry.exposure !== 'as-is', code)
    }
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

  it('keeps a validation error small whatever the input: 50 issues in details, 10 in the message, paths cut at 200 characters, messages at 500', () => {
    const issues = Array.from({ length: 5000 }, (_, i) => ({ path: `body.${'k'.repeat(100_000)}[${i}]`, message: 'x'.repeat(1000) }))
    const error = validationError(issues)
    const details = error.details as { path: string; message: string }[]
    assert.equal(details.length, 50)
    for (const issue of details) {
      assert.ok(issue.path.length <= 200 && issue.path.endsWith('…'), issue.path.slice(-10))
      assert.ok(issue.message.length <= 500 && issue.message.endsWith('…'))
    }
    assert.match(error.message, /; and 4990 more$/)
    assert.ok(error.message.length < 8000, String(error.message.length))
    // A cut never leaves half a surrogate pair.
    const emoji = validationError([{ path: `${'a'.repeat(198)}😀😀`, message: 'm' }])
    assert.equal((emoji.details as { path: string }[])[0]!.path, `${'a'.repeat(198)}…`)
  })

  it('forbiddenKeys stops at 50 issues and cuts long keys in its paths (a body built to amplify the refusal stays cheap)', () => {
    const body = JSON.parse(`{"${'k'.repeat(100_000)}":[${Array(5000).fill('{"prototype":0}').join(',')}]}`)
    const issues = forbiddenKeys(body, 'body')
    assert.equal(issues.length, 50)
    assert.equal(issues[0]!.path, `body.${'k'.repeat(64)}…[0].prototype`)
    assert.deepEqual(forbiddenKeys({ a: [{ b: { __proto__: null, constructor: 1 } }], ok: { prototype: 2 } }, 'body').map((i) => i.path), ['body.a[0].b.constructor', 'body.ok.prototype'])
    assert.deepEqual(forbiddenKeys({ a: [1, { b: 'x' }] }, 'body'), [])
  })
})

describe('httpErrorResponse', () => {
  it('answers a TenantryError with its status, headers and body', () => {
    const r = httpErrorResponse(new TenantryError('RATE_LIMITED', 'slow down', { headers: { 'Retry-After': '3' } }))
    assert.deepEqual(r, { status: 429, headers: { 'Retry-After': '3' }, body: { error: { code: 'RATE_LIMITED', message: 'slow down' } }, internal: false })
  })

  it('finds a TenantryError an ORM wrapped (in cause), and keeps its status', () => {
    const refused = new TenantryError('TENANT_SUSPENDED', 'Tenant "acme" is suspended')
    const wrapped = new Error('Failed query: select 1', { cause: new Error('driver', { cause: refused }) })
    assert.deepEqual(httpErrorResponse(wrapped), httpErrorResponse(refused))
    assert.equal(httpErrorResponse(new Error('plain', { cause: new Error('also plain') })).status, 500)
  })

  it('maps framework client errors to VALIDATION_FAILED, 401 to UNAUTHENTICATED, 404 to NOT_FOUND', () => {
    for (const status of [400, 413, 415]) {
      const r = httpErrorResponse(new Error('Body is too large'), status)
      assert.equal(r.status, 400)
      assert.equal(r.body.error.code, 'VALIDATION_FAILED')
      assert.deepEqual(r.body.error.details, [{ path: 'request', message: 'Body is too large' }])
    }
    assert.equal(httpErrorResponse(new Error('no'), 401).body.error.code, 'UNAUTHENTICATED')
    assert.equal(httpErrorResponse(new Error('no'), 404).body.error.code, 'NOT_FOUND')
  })

  it('answers anything else with 500 INTERNAL and a message that tells nothing', () => {
    const r = httpErrorResponse(new Error('duplicate key value violates unique constraint "secret_idx"'))
    assert.equal(r.status, 500)
    assert.equal(r.internal, true)
    assert.equal(r.body.error.code, 'INTERNAL')
    assert.doesNotMatch(JSON.stringify(r.body), /secret_idx/)
    assert.equal(httpErrorResponse(new Error('x'), 403).body.error.code, 'INTERNAL')
  })

  it('lets only the codes exposed as-is reach the body with their message; internal ones become a generic 500 INTERNAL', () => {
    for (const c of ['QUERY_REFUSED', 'ISOLATION_MISCONFIGURED', 'TENANT_PLACEMENT_MISSING', 'TENANT_CONTEXT_MISSING', 'MIGRATION_FAILED', 'SCOPE_MISMATCH'] as const) {
      const r = httpErrorResponse(new TenantryError(c, 'relation "secret_table" in schema t_acme: select * from secret_table', { details: [{ path: 'sql', message: 'select 1' }] }))
      assert.equal(r.status, 500, c)
      assert.equal(r.internal, true, c)
      assert.deepEqual(r.body, { error: { code: 'INTERNAL', message: 'Internal server error; the error was logged' } }, c)
    }
    for (const c of ['TENANT_DATABASE_UNAVAILABLE', 'CONNECTION_BUDGET_EXHAUSTED', 'MIGRATION_LOCKED'] as const) {
      const r = httpErrorResponse(new TenantryError(c, 'database "tenant_initech" on 10.0.0.7:5432 refused the connection'))
      assert.equal(r.status, c === 'MIGRATION_LOCKED' ? 409 : 503, c)
      assert.equal(r.body.error.code, c)
      assert.doesNotMatch(r.body.error.message, /initech|10\.0\.0\.7|5432/, c)
      assert.equal(r.internal, true, c)
    }
    const overloaded = httpErrorResponse(new TenantryError('OVERLOADED', 'The tenant is at its concurrency limit', { headers: { 'Retry-After': '1' } }))
    assert.equal(overloaded.status, 503)
    assert.equal(overloaded.body.error.code, 'OVERLOADED')
    assert.equal(overloaded.internal, false)
    assert.equal(httpErrorResponse(new TenantryError('INTERNAL', 'boom')).internal, true)
  })
})

describe('prepareRefusal', () => {
  const headers = { 'RateLimit-Policy': '"free";q=5;w=1', RateLimit: '"free";r=0;t=1', 'Retry-After': '1' }

  it('holds the answer httpErrorResponse gives for the same error, with the body serialized once', () => {
    const refusal = prepareRefusal('RATE_LIMITED', 'Rate limit exceeded: 5 per 1 s; retry in 1 s', headers)
    const plain = httpErrorResponse(new TenantryError('RATE_LIMITED', 'Rate limit exceeded: 5 per 1 s; retry in 1 s', { headers }))
    assert.equal(refusal.status, plain.status)
    assert.deepEqual({ ...refusal.headers }, plain.headers)
    assert.equal(refusal.body, JSON.stringify(plain.body))
    assert.ok(Object.isFrozen(refusal) && Object.isFrozen(refusal.headers))
  })

  it('makes errors that answer with the shared parts: httpErrorResponse adds the serialized body', () => {
    const refusal = prepareRefusal('RATE_LIMITED', 'Rate limit exceeded: 5 per 1 s; retry in 1 s', headers)
    const error = refusal.error()
    assert.ok(isTenantryError(error, 'RATE_LIMITED'))
    assert.equal(error.status, 429)
    assert.equal(error.headers, refusal.headers)
    assert.equal(preparedRefusalOf(error), refusal)
    assert.notEqual(refusal.error(), error, 'a new error per refusal: no handler can change another request\'s')
    // An answer, not a fault: no stack frames to capture.
    assert.doesNotMatch(String(error.stack), /\n\s+at /)
    const response = httpErrorResponse(error)
    assert.deepEqual(response, { status: 429, headers: refusal.headers, body: JSON.parse(refusal.body), internal: false, serialized: refusal.body })
    assert.equal(preparedRefusalOf(new TenantryError('RATE_LIMITED', 'x')), undefined)
    assert.equal(preparedRefusalOf('not an error'), undefined)
  })

  it('refuses a code whose body does not show its message', () => {
    assert.throws(() => prepareRefusal('TENANT_DATABASE_UNAVAILABLE', 'db1 is down'), (e: unknown) => isTenantryError(e, 'INTERNAL'))
    assert.throws(() => prepareRefusal('SCOPE_MISMATCH', 'x'), (e: unknown) => isTenantryError(e, 'INTERNAL'))
  })
})
