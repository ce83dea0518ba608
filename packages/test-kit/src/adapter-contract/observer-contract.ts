/**
 * The request-observer contract every HTTP adapter passes: each request on a
 * tenant route is observed once, with its tenant (or none when resolution
 * failed), its status and duration; a rate-limited request is marked limited;
 * the handler runs inside the observer's `run`; excluded paths are not
 * observed; an observer that throws does not fail the request.
 */
import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { MemoryRateLimitStore, RateLimiter, tenantAdmission, type RequestObservation, type RequestObserver, type RequestOutcome, type TenantHttpOptions } from '@tenantry/core'
import { call } from '../http.ts'
import type { ContractFixture, StartApp } from './http-contract.ts'

/** Waits until `ready()` (observations end when the response closes, just after the client has it). */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ready(); i++) await sleep(5)
  assert.ok(ready(), what)
}

export function observerContract(adapter: string, start: StartApp, makeFixture: () => Promise<ContractFixture>): void {
  describe(`${adapter}: request observers (metrics, traces, the live view)`, () => {
    let fixture: ContractFixture
    let app: { readonly port: number; close(): Promise<void> }
    let broken: { readonly port: number; close(): Promise<void> }
    const ended: RequestOutcome[] = []
    const runs = new AsyncLocalStorage<string>()
    let ranInside = 0
    const observer: RequestObserver = {
      start: () => ({
        run: (fn) => runs.run('observed', () => {
          ranInside++
          return fn()
        }),
        end: (outcome) => ended.push(outcome),
      }),
    }
    const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` })

    before(async () => {
      fixture = await makeFixture()
      const limiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans: { default: { limit: 2, windowMs: 60_000 } } })
      const options: TenantHttpOptions = { ...fixture.options, admission: tenantAdmission({ limiter }), exclude: ['/healthz'], observer }
      app = await start(options)
      // Each request meets the next failure in turn: start throws; run throws before the handler; tenant and end throw.
      let calls = 0
      const failures: (() => RequestObservation)[] = [
        () => {
          throw new Error('observer bug in start')
        },
        () => ({ run() { throw new Error('observer bug in run') }, end() {} }),
        () => ({ tenant() { throw new Error('observer bug') }, end() { throw new Error('observer bug') } }),
      ]
      broken = await start({ ...fixture.options, observer: { start: () => failures[calls++ % failures.length]!() } })
    })
    after(async () => {
      await app?.close()
      await broken?.close()
      await fixture?.close()
    })

    it('observes a tenant request once, with its tenant, status, route and duration, and runs the handler inside the observer', async () => {
      ended.length = 0
      const runsBefore = ranInside
      const answer = await call(app.port, { path: '/api/whoami', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) })
      assert.equal(answer.status, 200, answer.text)
      await until(() => ended.length === 1, 'the request was observed')
      await sleep(20)
      assert.equal(ended.length, 1, 'observed exactly once')
      const [outcome] = ended
      assert.equal(outcome!.tenant?.slug, fixture.acme.slug)
      assert.equal(outcome!.status, 200)
      assert.equal(outcome!.method, 'GET')
      assert.match(outcome!.route, /whoami/)
      assert.ok(outcome!.durationMs > 0 && outcome!.durationMs < 5_000)
      assert.equal(outcome!.limited, false)
      assert.equal(ranInside, runsBefore + 1, 'the handler chain ran through the observer\'s run()')
    })

    it('observes a request whose tenant is unknown, with no tenant and its 404', async () => {
      ended.length = 0
      const answer = await call(app.port, { path: '/api/whoami', host: 'nobody-here.localhost', headers: bearer(fixture.acme.key) })
      assert.equal(answer.status, 404)
      await until(() => ended.length === 1, 'the refused request was observed')
      assert.equal(ended[0]!.tenant, undefined)
      assert.equal(ended[0]!.status, 404)
    })

    it('marks a request the rate limiter refuses as limited (429), with its tenant', async () => {
      ended.length = 0
      const globex = { path: '/api/whoami', host: `${fixture.globex.slug}.localhost`, headers: bearer(fixture.globex.key) }
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) statuses.push((await call(app.port, globex)).status)
      assert.deepEqual(statuses.slice(0, 2), [200, 200])
      assert.equal(statuses[3], 429)
      await until(() => ended.length === 4, 'every request was observed')
      const limited = ended.filter((o) => o.limited)
      assert.ok(limited.length >= 1)
      assert.ok(limited.every((o) => o.status === 429 && o.tenant?.slug === fixture.globex.slug))
    })

    it('does not observe excluded paths', async () => {
      ended.length = 0
      assert.equal((await call(app.port, { path: '/healthz', host: 'localhost' })).status, 200)
      await sleep(50)
      assert.equal(ended.length, 0)
    })

    it('answers as usual when the observer throws (in start, in run before the handler, in tenant and end)', async () => {
      for (let i = 0; i < 3; i++) {
        const answer = await call(broken.port, { path: '/api/whoami', host: `${fixture.acme.slug}.localhost`, headers: bearer(fixture.acme.key) })
        assert.equal(answer.status, 200, `request ${i + 1}: ${answer.text}`)
        assert.equal(answer.body.slug, fixture.acme.slug)
      }
    })
  })
}
