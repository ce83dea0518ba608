import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { currentTenant, isTenantryError, tryCurrentTenant } from '@tenantry/core'
import { tenantryExpress, tenantryExpressErrorHandler, tenantryExpressNotFoundHandler } from '../src/index.ts'
import { FakeAdmission, call, httpContract, memoryFixture, observerContract, refusalContract } from '@tenantry/test-kit'
import { expressContractApp, expressVersions, listen } from './support/express-app.ts'

for (const { name, express } of expressVersions) {
  httpContract(name, expressContractApp(express), memoryFixture)
  refusalContract(name, expressContractApp(express), memoryFixture, { contentType: 'application/json; charset=utf-8' })
  observerContract(name, expressContractApp(express), memoryFixture)
}

describe('express: middleware specifics', () => {
  it('fails when created with bad options', async () => {
    const { options } = await memoryFixture()
    for (const bad of [{}, { resolution: {} }, { ...options, exclude: ['/'] }, { ...options, admission: {} }]) {
      assert.throws(() => tenantryExpress(bad as never), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
  })
})

for (const { name, major, express } of expressVersions) {
  describe(`${name}: mounting and errors`, () => {
    it("guards only the path it is mounted on (app.use('/api', ...)) and admits by the full path", async () => {
      const { options, acme } = await memoryFixture()
      const admission = new FakeAdmission()
      const app = express()
      app.use('/api', tenantryExpress({ ...options, admission }))
      app.get('/api/whoami', (_req, res) => { res.json({ slug: currentTenant().slug }) })
      app.get('/public', (_req, res) => { res.json({ tenant: tryCurrentTenant()?.slug ?? null }) })
      app.use(tenantryExpressErrorHandler({ log: () => {} }))
      const running = await listen(app)
      try {
        const guarded = await call(running.port, { path: '/api/whoami?x=1', host: 'acme.localhost', headers: { authorization: `Bearer ${acme.key}` } })
        assert.deepEqual(guarded.body, { slug: 'acme' }, guarded.text)
        assert.equal((await call(running.port, { path: '/api/whoami', host: 'acme.localhost' })).status, 401)
        assert.deepEqual((await call(running.port, { path: '/public', host: 'acme.localhost' })).body, { tenant: null })
        assert.deepEqual(admission.routes.map((r) => r.route), ['/api/whoami'])
      } finally {
        await running.close()
      }
    })

    it('releases the admission slot and sends nothing more when the response was started while admission waited', async () => {
      const { options, acme } = await memoryFixture()
      const admission = new FakeAdmission()
      const slow = { admit: async (...args: Parameters<FakeAdmission['admit']>) => { await sleep(80); return admission.admit(...args) } }
      const unhandled: unknown[] = []
      const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
      process.on('unhandledRejection', onUnhandled)
      const app = express()
      // A middleware that starts streaming its own answer before the tenant is admitted, and ends it later.
      app.use((_req: unknown, res: ServerResponse, next: () => void) => {
        setTimeout(() => { res.writeHead(503, { 'content-type': 'text/plain' }); res.write('busy') }, 10)
        setTimeout(() => res.end(), 120)
        next()
      })
      app.use(tenantryExpress({ ...options, admission: slow }))
      app.get('/api/whoami', (_req, res) => { res.json({ slug: currentTenant().slug }) })
      const running = await listen(app)
      try {
        const answer = await call(running.port, { path: '/api/whoami', host: 'acme.localhost', headers: { authorization: `Bearer ${acme.key}` } })
        assert.equal(answer.status, 503)
        await sleep(150)
        assert.equal(admission.admitted, 1)
        assert.equal(admission.released, 1)
        assert.deepEqual(unhandled, [])
      } finally {
        process.off('unhandledRejection', onUnhandled)
        await running.close()
      }
    })

    it('answers 400 VALIDATION_FAILED for a JSON body over the parser limit', async () => {
      const { options, acme } = await memoryFixture()
      const app = express()
      app.use(tenantryExpress(options))
      app.use(express.json({ limit: 16 }))
      app.post('/api/echo', (req, res) => { res.json({ body: req.body }) })
      app.use(tenantryExpressErrorHandler({ log: () => {} }))
      const running = await listen(app)
      try {
        const answer = await call(running.port, { method: 'POST', path: '/api/echo', host: 'acme.localhost', headers: { authorization: `Bearer ${acme.key}` }, body: { name: 'x'.repeat(64) } })
        assert.equal(answer.status, 400, answer.text)
        assert.equal(answer.body?.error?.code, 'VALIDATION_FAILED', answer.text)
      } finally {
        await running.close()
      }
    })

    // Express 5 only: Express 4 leaves a rejected handler's promise unhandled (the request
    // hangs), so handlers there call next(error), as the contract app does.
    if (major >= 5) it('maps an error thrown by an async handler to 500 INTERNAL, logged inside the tenant scope', async () => {
      const { options, acme } = await memoryFixture()
      const logged: Array<{ message: string; tenant: string | undefined }> = []
      const app = express()
      app.use(tenantryExpress(options))
      app.get('/api/boom', async () => {
        await sleep(1)
        throw new Error('relation "secret_table" does not exist')
      })
      app.use(tenantryExpressNotFoundHandler())
      app.use(tenantryExpressErrorHandler({ log: (error) => logged.push({ message: (error as Error).message, tenant: tryCurrentTenant()?.slug }) }))
      const running = await listen(app)
      try {
        const answer = await call(running.port, { path: '/api/boom', host: 'acme.localhost', headers: { authorization: `Bearer ${acme.key}` } })
        assert.equal(answer.status, 500, answer.text)
        assert.equal(answer.body?.error?.code, 'INTERNAL')
        assert.doesNotMatch(answer.text, /secret_table/)
        assert.deepEqual(logged, [{ message: 'relation "secret_table" does not exist', tenant: 'acme' }])
      } finally {
        await running.close()
      }
    })
  })
}
