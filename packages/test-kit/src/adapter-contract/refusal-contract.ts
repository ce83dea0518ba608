/**
 * How every Tenantry adapter refuses, over real HTTP, on the contract app of
 * http-contract.ts: before the request's body is read (a body that never ends
 * still gets its answer), and, for a tenant over its rate limit, from the
 * limiter's local deny list right after resolution (no authentication, no
 * store round trip), with the same status, headers and bytes as the store's
 * own refusal.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import {
  MemoryRateLimitStore,
  RateLimiter,
  tenantAdmission,
  type RateLimitDecision,
  type RateLimitStore,
  type RateLimitTarget,
  type SlidingWindow,
  type TenantHttpOptions,
} from '@tenantry/core'
import { call, type HttpAnswer } from '../http.ts'
import type { ContractFixture, StartApp } from './http-contract.ts'

/** What an adapter's refusals look like beyond the catalogue's body and headers. */
export interface RefusalShape {
  /** The Content-Type of an error body: what the framework's JSON answers carry. */
  readonly contentType: string
}

/** An asynchronous store (as Redis is) over the in-memory one, counting what it is asked. */
class CountingStore implements RateLimitStore {
  calls = 0
  readonly #inner = new MemoryRateLimitStore()
  consume(target: RateLimitTarget, window: SlidingWindow, cost: number): Promise<RateLimitDecision> {
    this.calls++
    return Promise.resolve(this.#inner.consumeNow(target, window, cost))
  }
}

/**
 * A POST whose body is announced (1 MiB) but never finished: the answer can
 * only come from a server that did not wait for the body.
 */
function callWithEndlessBody(port: number, request: { readonly path: string; readonly host: string; readonly headers?: Record<string, string> }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: request.path, agent: false,
      headers: { ...request.headers, host: request.host, 'content-type': 'application/json', 'content-length': String(1 << 20) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        req.destroy()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: text.length ? JSON.parse(text) : undefined })
      })
      res.on('error', reject)
    })
    // The server may close the connection once it has answered: the unsent rest of the body then fails to go.
    req.on('error', (error) => { if (!req.destroyed) reject(error) })
    req.write(`{"name":"${'x'.repeat(1024)}`)
  })
}

/** The 429 every adapter sends for `Rate limit exceeded: 1 per 60 s`, given its Retry-After. */
function expectRateLimited(answer: HttpAnswer, shape: RefusalShape): void {
  assert.equal(answer.status, 429, answer.text)
  const retry = String(answer.headers['retry-after'])
  assert.match(retry, /^\d+$/)
  assert.equal(answer.text, `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded: 1 per 60 s; retry in ${retry} s"}}`)
  assert.equal(answer.headers['content-type'], shape.contentType)
  assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.text)))
  assert.equal(answer.headers['ratelimit-policy'], '"default";q=1;w=60')
  assert.match(String(answer.headers.ratelimit), /^"default";r=0;t=\d+$/)
}

/** Response header names, without the ones that vary per response or connection. */
function headerNames(answer: HttpAnswer): string[] {
  return Object.keys(answer.headers).filter((name) => !['date', 'connection', 'keep-alive'].includes(name)).sort()
}

export function refusalContract(adapter: string, start: StartApp, makeFixture: () => Promise<ContractFixture>, shape: RefusalShape): void {
  describe(`${adapter}: refusals before the body, and a tenant over its rate limit`, () => {
    let fixture: ContractFixture
    let app: { readonly port: number; close(): Promise<void> }
    const store = new CountingStore()
    const limiter = new RateLimiter({ store, plans: { default: { limit: 1, windowMs: 60_000 } } })
    let authentications = 0
    const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` })
    const globex = () => ({ path: '/api/whoami', host: `${fixture.globex.slug}.localhost`, headers: bearer(fixture.globex.key) })

    before(async () => {
      fixture = await makeFixture()
      const { authenticate } = fixture.options
      assert.ok(authenticate, 'the fixture authenticates by API key')
      const options: TenantHttpOptions = {
        resolution: fixture.options.resolution,
        authenticate(request, tenant) {
          authentications++
          return authenticate(request, tenant)
        },
        admission: tenantAdmission({ limiter }),
        exclude: ['/healthz'],
      }
      app = await start(options)
    })
    after(async () => {
      await app?.close()
      await fixture?.close()
    })

    it('refuses an unknown tenant and a missing key before the body is read', { timeout: 10_000 }, async () => {
      const unknown = await callWithEndlessBody(app.port, { path: '/api/echo', host: 'nobody-here.localhost', headers: bearer(fixture.acme.key) })
      assert.equal(unknown.status, 404, unknown.text)
      assert.equal(unknown.body?.error?.code, 'TENANT_NOT_FOUND')
      const anonymous = await callWithEndlessBody(app.port, { path: '/api/echo', host: `${fixture.acme.slug}.localhost` })
      assert.equal(anonymous.status, 401, anonymous.text)
      assert.equal(anonymous.body?.error?.code, 'UNAUTHENTICATED')
    })

    it('answers the local deny list\'s refusal with the same status, headers and bytes as the store\'s', async () => {
      assert.equal((await call(app.port, globex())).status, 200)
      const fromStore = await call(app.port, globex())
      expectRateLimited(fromStore, shape)
      assert.equal(store.calls, 2)
      const fromList = await call(app.port, globex())
      expectRateLimited(fromList, shape)
      assert.equal(store.calls, 2, 'no store round trip for a tenant on the deny list')
      assert.equal(limiter.stats().refusedLocally, 1)
      assert.deepEqual(headerNames(fromList), headerNames(fromStore))
    })

    it('refuses a tenant on the deny list before the body is read', { timeout: 10_000 }, async () => {
      const calls = store.calls
      const answer = await callWithEndlessBody(app.port, { ...globex(), path: '/api/echo' })
      expectRateLimited(answer, shape)
      assert.equal(store.calls, calls)
    })

    it('refuses a tenant on the deny list before authentication: its 429 even without a key', async () => {
      const before = authentications
      const answer = await call(app.port, { path: '/api/whoami', host: `${fixture.globex.slug}.localhost` })
      expectRateLimited(answer, shape)
      assert.equal(authentications, before, 'the key is not checked for a tenant refused anyway')
    })

    it('still admits the other tenants, and reads their bodies', async () => {
      const answer = await call(app.port, { method: 'POST', path: '/api/echo', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key), body: { name: 'x' } })
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(answer.body, { slug: fixture.acme.slug, body: { name: 'x' } })
    })
  })
}
