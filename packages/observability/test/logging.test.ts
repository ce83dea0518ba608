import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { runWithTenant, type ScopedTenant } from '@tenantry/core'
import { bindLogTenant, createTenantLogger, currentRequestId, requestIdFrom, runWithRequestId } from '../src/index.ts'

const acme: ScopedTenant = { id: '6f1c1f3e-8a43-4a51-9b1e-0c5b4ad8e0a1', slug: 'acme', status: 'active', isolation: 'shared' }

function capture(): { stream: Writable; lines: () => Record<string, any>[] } {
  const chunks: string[] = []
  const stream = new Writable({ write(chunk, _enc, done) { chunks.push(String(chunk)); done() } })
  return { stream, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) }
}

describe('createTenantLogger', () => {
  it('puts the tenant in scope and the request id on every line, across async hops, and nothing outside', async () => {
    const { stream, lines } = capture()
    const logger = createTenantLogger({ level: 'info' }, stream)
    logger.info('before')
    await runWithRequestId('req-1', () => runWithTenant(acme, async () => {
      await new Promise((resolve) => setImmediate(resolve))
      logger.info('inside')
      logger.child({ job: 'export' }).warn('from a child')
      assert.equal(currentRequestId(), 'req-1')
    }))
    const [before, inside, child] = lines()
    assert.equal(before!.tenant, undefined)
    assert.equal(before!.request_id, undefined)
    assert.deepEqual(inside!.tenant, { id: acme.id, slug: 'acme' })
    assert.equal(inside!.request_id, 'req-1')
    assert.deepEqual(child!.tenant, { id: acme.id, slug: 'acme' })
    assert.equal(child!.job, 'export')
  })

  it('redacts keys, tokens, passwords, credentials in headers and configured fields; errors keep no row values', () => {
    const { stream, lines } = capture()
    const logger = createTenantLogger({ level: 'info' }, stream, { redact: ['user.email'] })
    const pgError = Object.assign(new Error('duplicate key'), { code: '23505', detail: 'Key (email)=(ann@example.com) already exists.', where: 'row 1' })
    logger.info({
      apiKey: 'tnt_secret', token: 't0k', password: 'hunter2', user: { email: 'ann@example.com', name: 'Ann' },
      req: { headers: { authorization: 'Bearer abc', 'x-api-key': 'k', host: 'acme.localhost' } }, err: pgError,
    }, 'line')
    const [line] = lines()
    const text = JSON.stringify(line)
    for (const secret of ['tnt_secret', 't0k', 'hunter2', 'ann@example.com', 'Bearer abc']) assert.ok(!text.includes(secret), `${secret} is redacted`)
    assert.equal(line!.user.name, 'Ann')
    assert.equal(line!.req.headers.host, 'acme.localhost')
    assert.equal(line!.err.code, '23505')
    assert.equal(line!.err.detail, undefined)
    assert.equal(line!.err.where, undefined)
    assert.throws(() => createTenantLogger({}, stream, { redact: [''] }), /redact/)
  })

  it('takes a tenant bound to a logger (for lines written outside the scope), and a request id only when it is a plain token', () => {
    const { stream, lines } = capture()
    const logger = createTenantLogger({ level: 'info' }, stream)
    const perRequest = logger.child({})
    bindLogTenant(perRequest, acme)
    perRequest.info('response sent')
    assert.deepEqual(lines()[0]!.tenant, { id: acme.id, slug: 'acme' })
    assert.equal(requestIdFrom({ 'x-request-id': 'abc-123' }), 'abc-123')
    assert.match(requestIdFrom({ 'x-request-id': 'bad\nline' }), /^[0-9a-f-]{36}$/)
    assert.match(requestIdFrom({}), /^[0-9a-f-]{36}$/)
  })
})
