import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Hono } from 'hono'
import { currentTenant, isTenantryError, type TenantAdmission, type TenantRequest } from '@tenantry/core'
import { tenantryHono, tenantryHonoErrorHandler, type TenantryHonoEnv } from '../src/index.ts'
import { httpContract, memoryFixture, observerContract, refusalContract } from '@tenantry/test-kit'
import { honoContractApp, listen, nodeServers } from './support/hono-app.ts'

for (const { name, serve } of nodeServers) {
  httpContract(name, honoContractApp(serve), memoryFixture)
  // Hono's c.json() sends plain application/json; the prepared refusal sends the same.
  refusalContract(name, honoContractApp(serve), memoryFixture, { contentType: 'application/json' })
  observerContract(name, honoContractApp(serve), memoryFixture)
}

describe('hono: middleware specifics', () => {
  it('fails when created with bad options', async () => {
    const { options } = await memoryFixture()
    for (const bad of [{}, { resolution: {} }, { ...options, exclude: ['x'] }]) {
      assert.throws(() => tenantryHono(bad as never), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
  })

  it('works through app.request() without Node bindings: host from the URL, slot released when the handler returns', async () => {
    const { options, acme } = await memoryFixture()
    let released = 0
    const app = new Hono<TenantryHonoEnv>()
    app.onError(tenantryHonoErrorHandler)
    app.use(tenantryHono({ ...options, admission: { admit: async () => ({ headers: { RateLimit: 'x' }, release: () => { released++ } }) } }))
    app.get('/api/me', async (c) => c.json({ slug: currentTenant().slug }))
    const res = await app.request('http://acme.localhost/api/me', { headers: { authorization: `Bearer ${acme.key}` } })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { slug: 'acme' })
    assert.equal(res.headers.get('ratelimit'), 'x')
    assert.equal(released, 1)
  })
})

// The contract still passes if the middleware misses node-server's bindings (c.env.incoming,
// c.env.outgoing) and falls back to the Fetch request; these two do not.
for (const { name, serve } of nodeServers) {
  describe(`${name}: Node bindings`, () => {
    it("hands resolution the Node request's headers and local port (portResolver needs the port)", async () => {
      const { options, acme } = await memoryFixture()
      const seen: TenantRequest[] = []
      const app = new Hono<TenantryHonoEnv>()
      app.use(tenantryHono({ ...options, authenticate: (request, tenant) => { seen.push(request); return options.authenticate!(request, tenant) } }))
      app.get('/api/me', (c) => c.json({ slug: currentTenant().slug }))
      const running = await listen(serve, app)
      try {
        const res = await fetch(`http://127.0.0.1:${running.port}/api/me`, { headers: { 'x-tenant-id': 'acme', authorization: `Bearer ${acme.key}` } })
        assert.equal(res.status, 200, await res.clone().text())
        assert.equal(seen.length, 1)
        assert.equal(seen[0]!.localPort, running.port)
        assert.equal(seen[0]!.headers['x-tenant-id'], 'acme')
      } finally {
        await running.close()
      }
    })

    it('holds the admission slot while a streamed body flows, and releases it once when the Node response closes', async () => {
      const { options, acme } = await memoryFixture()
      let released = 0
      const admission: TenantAdmission = { admit: async () => ({ headers: {}, release: () => { released++ } }) }
      const app = new Hono<TenantryHonoEnv>()
      app.use(tenantryHono({ ...options, admission }))
      app.get('/api/stream', (c) => c.body(new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('first;'))
          await sleep(150)
          controller.enqueue(new TextEncoder().encode('last'))
          controller.close()
        },
      })))
      const running = await listen(serve, app)
      try {
        const { releasedAtFirstChunk, text } = await new Promise<{ releasedAtFirstChunk: number; text: string }>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: running.port, path: '/api/stream', headers: { host: 'acme.localhost', authorization: `Bearer ${acme.key}` }, agent: false }, (res) => {
            let text = ''
            let releasedAtFirstChunk = -1
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => {
              if (releasedAtFirstChunk < 0) releasedAtFirstChunk = released
              text += chunk
            })
            res.on('end', () => resolve({ releasedAtFirstChunk, text }))
          })
          req.on('error', reject)
        })
        assert.equal(text, 'first;last')
        assert.equal(releasedAtFirstChunk, 0)
        for (let i = 0; i < 100 && released < 1; i++) await sleep(5)
        assert.equal(released, 1)
      } finally {
        await running.close()
      }
    })
  })
}
