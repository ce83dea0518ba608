import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { TenantResolution, currentTenant, headerResolver, isTenantryError, tryCurrentTenant } from '@tenantry/core'
import { tenantryFastify } from '../src/index.ts'
import { call, httpContract, memoryFixture, observerContract, refusalContract } from '@tenantry/test-kit'
import { startFastify } from './support/fastify-app.ts'

httpContract('fastify', startFastify, memoryFixture)
refusalContract('fastify', startFastify, memoryFixture, { contentType: 'application/json; charset=utf-8' })
observerContract('fastify', startFastify, memoryFixture)

describe('fastify: plugin specifics', () => {
  let app: FastifyInstance
  let port: number
  let fixture: Awaited<ReturnType<typeof memoryFixture>>

  before(async () => {
    fixture = await memoryFixture()
    app = Fastify({ logger: false })
    await app.register(tenantryFastify, { ...fixture.options, errorHandler: true, notFoundHandler: true })
    app.get('/api/public', { config: { tenant: false } }, async () => ({ tenant: tryCurrentTenant()?.slug ?? null }))
    app.addHook('preHandler', async (request) => {
      // A later async hook still sees the tenant.
      if (request.tenant !== undefined) (request as unknown as { seen: string }).seen = currentTenant().slug
    })
    app.get('/api/hooked', async (request) => ({ seen: (request as unknown as { seen: string }).seen }))
    app.post('/api/typed', {
      schema: { body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', maxLength: 5 } } } },
    }, async () => ({ ok: true }))
    app.register(async (child) => {
      child.get('/api/child', async () => ({ slug: currentTenant().slug }))
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as { port: number }).port
  })
  after(async () => {
    await app?.close()
  })

  const acme = () => ({ host: 'acme.localhost', headers: { authorization: `Bearer ${fixture.acme.key}` } })

  it('lets a route opt out with config: { tenant: false }', async () => {
    const answer = await call(port, { path: '/api/public', host: 'localhost' })
    assert.equal(answer.status, 200, answer.text)
    assert.deepEqual(answer.body, { tenant: null })
  })

  it('applies app-wide: later hooks and routes in child plugins see the tenant', async () => {
    assert.deepEqual((await call(port, { path: '/api/hooked', ...acme() })).body, { seen: 'acme' })
    assert.deepEqual((await call(port, { path: '/api/child', ...acme() })).body, { slug: 'acme' })
  })

  it('maps schema validation to 400 VALIDATION_FAILED with details', async () => {
    const answer = await call(port, { method: 'POST', path: '/api/typed', ...acme(), body: { name: 'far too long', extra: 1 } })
    assert.equal(answer.status, 400, answer.text)
    assert.equal(answer.body.error.code, 'VALIDATION_FAILED')
    assert.ok(Array.isArray(answer.body.error.details) && answer.body.error.details.length > 0)
    assert.match(answer.body.error.details[0].path, /^body/)
  })

  it('maps an unsupported media type and a body too large to 400 VALIDATION_FAILED', async () => {
    const xml = await call(port, { method: 'POST', path: '/api/typed', ...acme(), headers: { ...acme().headers, 'content-type': 'application/xml' }, body: '<a/>' })
    assert.equal(xml.status, 400, xml.text)
    assert.equal(xml.body.error.code, 'VALIDATION_FAILED')
    const big = await call(port, { method: 'POST', path: '/api/typed', ...acme(), body: { name: 'x'.repeat(1_100_000) } })
    assert.equal(big.status, 400, big.text)
    assert.equal(big.body.error.code, 'VALIDATION_FAILED')
  })

  it('fails at register time on bad options', async () => {
    for (const options of [{}, { resolution: {} }, { resolution: fixture.options.resolution, exclude: ['admin'] }, { resolution: fixture.options.resolution, authenticate: 'yes' }]) {
      const bad = Fastify({ logger: false })
      await assert.rejects(async () => {
        await bad.register(tenantryFastify, options as never)
        await bad.ready()
      }, (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
      await bad.close()
    }
  })

  it("leaves the app's own error and not-found handlers alone; refusals reach them with status, code and headers", async () => {
    const own = Fastify({ logger: false })
    const seen: string[] = []
    own.setErrorHandler((error: Error & { status?: number; code?: string }, _request, reply) => {
      seen.push(String(error.code))
      void reply.code(error.status ?? 500).send({ mine: true, code: error.code })
    })
    own.setNotFoundHandler((_request, reply) => void reply.code(404).send({ mine: 'nothing here' }))
    await own.register(tenantryFastify, { ...fixture.options })
    own.get('/api/whoami', async () => ({ slug: currentTenant().slug }))
    own.get('/api/boom', async () => {
      throw new Error('app failure')
    })
    const unknown = await own.inject({ url: '/api/whoami', headers: { host: 'nobody.localhost' } })
    assert.equal(unknown.statusCode, 404)
    assert.deepEqual(unknown.json(), { mine: true, code: 'TENANT_NOT_FOUND' })
    const noKey = await own.inject({ url: '/api/whoami', headers: { host: 'acme.localhost' } })
    assert.equal(noKey.statusCode, 401)
    assert.deepEqual(noKey.json(), { mine: true, code: 'UNAUTHENTICATED' })
    assert.match(String(noKey.headers['www-authenticate']), /^Bearer/, 'the refusal keeps its headers under the app handler')
    const boom = await own.inject({ url: '/api/boom', headers: { host: 'acme.localhost', ...acme().headers } })
    assert.equal(boom.statusCode, 500)
    assert.deepEqual(boom.json(), { mine: true })
    assert.deepEqual((await own.inject({ url: '/no/such/route' })).json(), { mine: 'nothing here' })
    assert.deepEqual(seen, ['TENANT_NOT_FOUND', 'UNAUTHENTICATED', 'undefined'])
    assert.deepEqual((await own.inject({ url: '/api/whoami', headers: { host: 'acme.localhost', ...acme().headers } })).json(), { slug: 'acme' })
    await own.close()

    // Without any handler of its own, Fastify's default still answers with the catalogue's status.
    const plain = Fastify({ logger: false })
    await plain.register(tenantryFastify, { ...fixture.options })
    plain.get('/api/whoami', async () => ({ slug: currentTenant().slug }))
    const refused = await plain.inject({ url: '/api/whoami', headers: { host: 'acme.localhost' } })
    assert.equal(refused.statusCode, 401)
    assert.equal(refused.json().code, 'UNAUTHENTICATED')
    await plain.close()
  })

  it('works without authenticate', async () => {
    const open = Fastify({ logger: false })
    await open.register(tenantryFastify, { resolution: new TenantResolution({ resolvers: [headerResolver()], directory: { getBySlug: async (slug) => (slug === 'acme' ? { id: '7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10', slug, name: 'A', status: 'active', plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: new Date(), updatedAt: new Date() } : undefined), getById: async () => undefined, getByDomain: async () => undefined } }) })
    open.get('/x', async () => ({ slug: currentTenant().slug }))
    const answer = await open.inject({ url: '/x', headers: { 'x-tenant-id': 'acme' } })
    assert.deepEqual(answer.json(), { slug: 'acme' })
    await open.close()
  })
})
