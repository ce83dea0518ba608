import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Hono } from 'hono'
import { currentTenant, isTenantryError } from '@tenantry/core'
import { tenantryHono, tenantryHonoErrorHandler, type TenantryHonoEnv } from '../src/index.ts'
import { httpContract, memoryFixture } from '@tenantry/test-kit'
import { startHono } from './support/hono-app.ts'

httpContract('hono', startHono, memoryFixture)

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
