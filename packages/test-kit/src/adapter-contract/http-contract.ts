/**
 * The HTTP behaviour every Tenantry adapter must show, as one suite run against
 * Fastify, Express and Hono, over real HTTP, with an in-memory directory or the
 * real catalog. Each adapter supplies `start(options)`, an app that serves:
 *   GET  /api/whoami, GET /t/:tenant/api/whoami -> { slug: currentTenant() after awaits, requestTenant, auth }
 *   POST /api/echo (JSON)                       -> { slug, body }
 *   GET  /api/boom                              -> throws an Error that mentions SQL
 *   GET  /api/slow                              -> answers after 300 ms
 *   GET  /healthz, GET /admin/ping              -> { tenant: tryCurrentTenant()?.slug ?? null } (excluded)
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  TenantBulkhead,
  TenantryError,
  tenantAdmission,
  type AdmissionRequest,
  type AdmissionTicket,
  type Tenant,
  type RequestObserver,
  type TenantAdmission,
  type TenantHttpOptions,
} from '@tenantry/core'
import { call, type HttpAnswer, type HttpCall } from '../http.ts'

export interface RunningApp {
  readonly port: number
  close(): Promise<void>
}

export type StartApp = (options: TenantHttpOptions) => Promise<RunningApp>

export interface ContractTenant {
  readonly slug: string
  readonly key: string
}

/** Tenants and options the suite needs; built on an in-memory directory or a catalog. */
export interface ContractFixture {
  readonly options: Pick<TenantHttpOptions, 'resolution' | 'authenticate'>
  /** Active, with the custom domain `domain`. */
  readonly acme: ContractTenant & { readonly domain: string }
  /** Active. */
  readonly globex: ContractTenant
  /** Suspended, with a valid key. */
  readonly initech: ContractTenant
  close(): Promise<void>
}

/** A fake TenantAdmission: admits acme with rate headers, refuses globex with 429, counts slots. */
export class FakeAdmission implements TenantAdmission {
  admitted = 0
  released = 0
  readonly routes: AdmissionRequest[] = []
  async admit(tenant: Tenant, request: AdmissionRequest): Promise<AdmissionTicket> {
    this.routes.push(request)
    if (tenant.slug.startsWith('globex')) {
      throw new TenantryError('RATE_LIMITED', 'Tenant is over its rate limit', {
        headers: { 'Retry-After': '7', 'RateLimit-Policy': '"burst";q=10;w=1', RateLimit: '"burst";r=0;t=7' },
      })
    }
    this.admitted++
    let done = false
    return {
      headers: { 'RateLimit-Policy': '"burst";q=10;w=1', RateLimit: '"burst";r=9;t=1' },
      release: () => {
        if (done) throw new Error('released twice')
        done = true
        this.released++
      },
    }
  }
}

const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` })

function expectError(answer: HttpAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text)
  assert.equal(answer.body?.error?.code, code, answer.text)
  assert.equal(typeof answer.body.error.message, 'string')
}

export function httpContract(adapter: string, start: StartApp, makeFixture: () => Promise<ContractFixture>): void {
  describe(`${adapter}: tenant routes over HTTP`, () => {
    let fixture: ContractFixture
    let app: RunningApp
    let port: number
    const get = (c: HttpCall) => call(port, c)

    before(async () => {
      fixture = await makeFixture()
      app = await start({ ...fixture.options, exclude: ['/admin', '/healthz'] })
      port = app.port
    })
    after(async () => {
      await app?.close()
      await fixture?.close()
    })

    it('resolves by subdomain and runs the handler in the tenant scope, after awaits', async () => {
      const answer = await get({ path: '/api/whoami', host: `${fixture.acme.slug}.localhost:${port}`, headers: bearer(fixture.acme.key) })
      assert.equal(answer.status, 200, answer.text)
      assert.equal(answer.body.slug, fixture.acme.slug)
      assert.equal(answer.body.requestTenant, fixture.acme.slug)
      assert.equal(typeof answer.body.auth?.keyId, 'string')
    })

    it('resolves by custom domain, header and path', async () => {
      const byDomain = await get({ path: '/api/whoami', host: fixture.acme.domain, headers: bearer(fixture.acme.key) })
      assert.equal(byDomain.body?.slug, fixture.acme.slug, byDomain.text)
      const byHeader = await get({ path: '/api/whoami', host: `localhost:${port}`, headers: { ...bearer(fixture.globex.key), 'x-tenant-id': fixture.globex.slug } })
      assert.equal(byHeader.body?.slug, fixture.globex.slug, byHeader.text)
      const byPath = await get({ path: `/t/${fixture.acme.slug}/api/whoami`, host: `127.0.0.1:${port}`, headers: bearer(fixture.acme.key) })
      assert.equal(byPath.body?.slug, fixture.acme.slug, byPath.text)
    })

    it('keeps the tenant scope across JSON body parsing', async () => {
      const answer = await get({ method: 'POST', path: '/api/echo', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key), body: { name: 'x' } })
      assert.equal(answer.status, 200, answer.text)
      assert.deepEqual(answer.body, { slug: fixture.acme.slug, body: { name: 'x' } })
    })

    it('answers 403 TENANT_MISMATCH when host and header disagree', async () => {
      const answer = await get({ path: '/api/whoami', host: `${fixture.acme.slug}.localhost`, headers: { ...bearer(fixture.acme.key), 'x-tenant-id': fixture.globex.slug } })
      expectError(answer, 403, 'TENANT_MISMATCH')
    })

    it('answers 401 UNAUTHENTICATED without a key or with an unknown one', async () => {
      const none = await get({ path: '/api/whoami', host: `${fixture.acme.slug}.localhost` })
      expectError(none, 401, 'UNAUTHENTICATED')
      assert.match(String(none.headers['www-authenticate']), /^Bearer/)
      expectError(await get({ path: '/api/whoami', host: `${fixture.acme.slug}.localhost`, headers: bearer('tnt_zzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') }), 401, 'UNAUTHENTICATED')
    })

    it("answers 403 TENANT_MISMATCH for A's key on B's host", async () => {
      expectError(await get({ path: '/api/whoami', host: `${fixture.globex.slug}.localhost`, headers: bearer(fixture.acme.key) }), 403, 'TENANT_MISMATCH')
    })

    it('answers 403 TENANT_SUSPENDED for a suspended tenant, 404 TENANT_NOT_FOUND for an unknown one, 400 TENANT_NOT_IDENTIFIED for none', async () => {
      expectError(await get({ path: '/api/whoami', host: `${fixture.initech.slug}.localhost`, headers: bearer(fixture.initech.key) }), 403, 'TENANT_SUSPENDED')
      expectError(await get({ path: '/api/whoami', host: 'nobody-here.localhost', headers: bearer(fixture.acme.key) }), 404, 'TENANT_NOT_FOUND')
      expectError(await get({ path: '/api/whoami', host: `localhost:${port}`, headers: bearer(fixture.acme.key) }), 400, 'TENANT_NOT_IDENTIFIED')
    })

    it('resolves before it authenticates: without a key, 404 for an unknown tenant and 403 for a suspended one (docs/security.md)', async () => {
      expectError(await get({ path: '/api/whoami', host: 'nobody-here.localhost' }), 404, 'TENANT_NOT_FOUND')
      expectError(await get({ path: '/api/whoami', host: `${fixture.initech.slug}.localhost` }), 403, 'TENANT_SUSPENDED')
      expectError(await get({ path: '/api/whoami', host: `${fixture.acme.slug}.localhost` }), 401, 'UNAUTHENTICATED')
    })

    it('runs excluded routes with no tenant and no key', async () => {
      for (const path of ['/healthz', '/admin/ping']) {
        const answer = await get({ path, host: `${fixture.acme.slug}.localhost` })
        assert.equal(answer.status, 200, answer.text)
        assert.deepEqual(answer.body, { tenant: null })
      }
    })

    it('answers 400 VALIDATION_FAILED for malformed JSON', async () => {
      const answer = await get({ method: 'POST', path: '/api/echo', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key), body: '{"name": ' })
      expectError(answer, 400, 'VALIDATION_FAILED')
    })

    it('answers 404 NOT_FOUND for an unknown route', async () => {
      expectError(await get({ path: '/api/nothing-here', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) }), 404, 'NOT_FOUND')
    })

    it('answers 500 INTERNAL with no stack or SQL for an unexpected error', async () => {
      const answer = await get({ path: '/api/boom', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) })
      expectError(answer, 500, 'INTERNAL')
      assert.doesNotMatch(answer.text, /secret_table|select|at .*\.ts/i)
    })

    it('never mixes tenants across many concurrent requests', async () => {
      const tenants = [fixture.acme, fixture.globex]
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const t = tenants[i % 2]!
          return get({ path: '/api/whoami', host: `${t.slug}.localhost`, headers: bearer(t.key) }).then((a) => ({ t, a }))
        }),
      )
      for (const { t, a } of answers) {
        assert.equal(a.status, 200, a.text)
        assert.equal(a.body.slug, t.slug)
        assert.equal(a.body.requestTenant, t.slug)
      }
    })
  })

  describe(`${adapter}: admission`, () => {
    let fixture: ContractFixture
    let app: RunningApp
    const admission = new FakeAdmission()

    before(async () => {
      fixture = await makeFixture()
      app = await start({ ...fixture.options, admission, exclude: ['/healthz'] })
    })
    after(async () => {
      await app?.close()
      await fixture?.close()
    })

    it('sends the ticket headers on success and releases every slot once', async () => {
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => call(app.port, { path: '/api/whoami', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) })),
      )
      const failing = await call(app.port, { path: '/api/boom', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) })
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text)
        assert.equal(answer.headers['ratelimit-policy'], '"burst";q=10;w=1')
        assert.equal(answer.headers.ratelimit, '"burst";r=9;t=1')
      }
      assert.equal(failing.status, 500)
      for (let i = 0; i < 100 && admission.released < 6; i++) await sleep(10)
      assert.equal(admission.admitted, 6)
      assert.equal(admission.released, 6)
      assert.ok(admission.routes.every((r) => r.method === 'GET' && r.route.length > 0))
    })

    it('answers 429 RATE_LIMITED with Retry-After when admission refuses', async () => {
      const answer = await call(app.port, { path: '/api/whoami', host: `${fixture.globex.slug}.localhost`, headers: bearer(fixture.globex.key) })
      expectError(answer, 429, 'RATE_LIMITED')
      assert.equal(answer.headers['retry-after'], '7')
      assert.equal(answer.headers.ratelimit, '"burst";r=0;t=7')
    })

    it('releases the slot when the client goes away before the answer', async () => {
      const admittedBefore = admission.admitted
      await new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: app.port, path: '/api/slow', headers: { host: `${fixture.acme.slug}.localhost`, ...bearer(fixture.acme.key) }, agent: false })
        req.on('error', () => resolve())
        req.end()
        setTimeout(() => {
          req.destroy()
          resolve()
        }, 100)
      })
      for (let i = 0; i < 100 && admission.released < admission.admitted; i++) await sleep(10)
      assert.equal(admission.admitted, admittedBefore + 1)
      assert.equal(admission.released, admission.admitted)
    })

    it('does not admit excluded routes', async () => {
      const before = admission.routes.length
      assert.equal((await call(app.port, { path: '/healthz', host: `${fixture.globex.slug}.localhost` })).status, 200)
      assert.equal(admission.routes.length, before)
    })
  })

  /**
   * Sends GET /api/slow and, once `ready()` holds, goes away (the socket destroyed) before the answer;
   * fails with `what` when `ready()` never holds.
   */
  async function leaveWhen(port: number, caller: { host: string; headers: Record<string, string> }, ready: () => boolean, what: string): Promise<void> {
    const req = http.request({ host: '127.0.0.1', port, path: '/api/slow', headers: { host: caller.host, ...caller.headers }, agent: false })
    req.on('error', () => undefined)
    req.end()
    for (let i = 0; i < 100 && !ready(); i++) await sleep(5)
    const held = ready()
    req.destroy()
    assert.ok(held, what)
  }

  describe(`${adapter}: bulkhead slots and disconnects`, () => {
    let fixture: ContractFixture
    let app: RunningApp
    const bulkhead = new TenantBulkhead({ maxConcurrent: 1, maxQueue: 8, queueTimeoutMs: 5_000 })
    // Watched too: the observation's end and the slot's release share the response's close.
    const ended: { route: string; status: number }[] = []
    const observer: RequestObserver = { start: () => ({ end: (o) => ended.push({ route: o.route, status: o.status }) }) }

    before(async () => {
      fixture = await makeFixture()
      app = await start({ ...fixture.options, admission: tenantAdmission({ bulkhead }), exclude: ['/healthz'], observer })
    })
    after(async () => {
      await app?.close()
      await fixture?.close()
    })

    it('gives the slot back when the client leaves while queued for it', async () => {
      const acme = { host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) }
      // The first request holds the only slot for 300 ms.
      const holder = call(app.port, { path: '/api/slow', ...acme })
      for (let i = 0; i < 100 && bulkhead.stats().active < 1; i++) await sleep(5)
      assert.equal(bulkhead.stats().active, 1)
      // The second waits in the queue, and its client goes away before the slot frees.
      await leaveWhen(app.port, acme, () => bulkhead.stats().queued >= 1, 'the request waits in the queue')
      assert.equal((await holder).status, 200)
      for (let i = 0; i < 100 && bulkhead.stats().active > 0; i++) await sleep(10)
      assert.deepEqual({ active: bulkhead.stats().active, queued: bulkhead.stats().queued }, { active: 0, queued: 0 })
      const next = await call(app.port, { path: '/api/whoami', ...acme })
      assert.equal(next.status, 200, next.text)
      for (let i = 0; i < 100 && bulkhead.stats().active > 0; i++) await sleep(10)
      assert.equal(bulkhead.stats().active, 0)
      for (let i = 0; i < 100 && ended.length < 3; i++) await sleep(10)
      assert.deepEqual(ended.map((o) => o.status).sort(), [200, 200, 499], 'each request observed once: the one that left as 499')
    })

    it('observes a client that leaves while its handler runs as 499, once, and gives its slot back', async () => {
      ended.length = 0
      const acme = { host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) }
      await leaveWhen(app.port, acme, () => bulkhead.stats().active >= 1, 'the handler holds the slot')
      for (let i = 0; i < 100 && (bulkhead.stats().active > 0 || ended.length < 1); i++) await sleep(10)
      assert.equal(bulkhead.stats().active, 0, 'the slot is back')
      // The handler's late answer (after 300 ms) must not end the observation again.
      await sleep(400)
      assert.deepEqual(ended.map((o) => o.status), [499])
      const next = await call(app.port, { path: '/api/whoami', ...acme })
      assert.equal(next.status, 200, next.text)
    })
  })
}
