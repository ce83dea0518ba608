/**
 * The tenant across services over real HTTP: a caller in a tenant scope
 * sends a signed assertion (TenantAssertionSigner.fetch); the internal
 * service (Fastify, serviceTenancy as its only resolver) serves that tenant
 * and refuses everything else: a raw tenant header, a forged, expired, too
 * old, foreign or duplicated assertion, a suspended tenant.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import {
  TENANT_ASSERTION_HEADER, TenantAssertionSigner, TenantResolution, currentTenant, runWithTenant, serviceTenancy, type Tenant, type TenantDirectory, type TenantStatus,
} from '@tenantry/core'
import { call, expectCode } from '@tenantry/test-kit'
import { tenantryFastify } from '../src/index.ts'

function tenant(slug: string, status: TenantStatus = 'active'): Tenant {
  const now = new Date()
  return { id: randomUUID(), slug, name: slug, status, plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: now, updatedAt: now }
}

class MemoryDirectory implements TenantDirectory {
  constructor(readonly tenants: readonly Tenant[]) {}
  async getBySlug(slug: string) { return this.tenants.find((t) => t.slug === slug) }
  async getById(id: string) { return this.tenants.find((t) => t.id === id) }
  async getByDomain() { return undefined }
}

const key = new TextEncoder().encode('the-deployment-service-key-32-bytes-long!')
const otherKey = new TextEncoder().encode('another-deployment-key-of-32-bytes-long!!')
const acme = tenant('acme')
const globex = tenant('globex')
const paused = tenant('paused', 'suspended')

async function handMade(claims: Record<string, unknown>, over: { iss?: string; aud?: string; iat?: number; exp?: number; key?: Uint8Array; typ?: string | null } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', ...(over.typ === null ? {} : { typ: over.typ ?? 'tenant-assertion+jwt' }) })
    .setIssuer(over.iss ?? 'tasks-api')
    .setAudience(over.aud ?? 'reports')
    .setIssuedAt(over.iat ?? now)
    .setExpirationTime(over.exp ?? now + 30)
    .sign(over.key ?? key)
}

describe('the tenant across services: signed assertions', () => {
  let service: FastifyInstance
  let port: number
  let served = 0
  const signer = new TenantAssertionSigner({ key, algorithm: 'HS256', issuer: 'tasks-api', ttlSeconds: 30 })

  before(async () => {
    const assertions = serviceTenancy({ key, algorithms: ['HS256'], issuer: 'tasks-api', audience: 'reports', maxAgeSeconds: 60 })
    const resolution = new TenantResolution({ resolvers: [assertions.resolver], directory: new MemoryDirectory([acme, globex, paused]) })
    service = Fastify({ logger: false })
    await service.register(tenantryFastify, { resolution, authenticate: assertions.authenticate, errorHandler: true })
    service.get('/summary', async (request) => {
      served++
      return { tenant: currentTenant().slug, sawRawHeader: request.headers['x-tenant-id'] ?? null }
    })
    await service.listen({ host: '127.0.0.1', port: 0 })
    port = (service.server.address() as AddressInfo).port
  })
  after(async () => {
    await service?.close()
  })

  it('serves the caller\'s tenant from its assertion; the fetch drops a raw tenant header the caller set', async () => {
    const reports = signer.fetch('reports')
    for (const t of [acme, globex]) {
      const answer = await runWithTenant(t, () => reports(`http://127.0.0.1:${port}/summary`, { headers: { 'x-tenant-id': globex.id, [TENANT_ASSERTION_HEADER]: 'forged' } }))
      assert.equal(answer.status, 200)
      assert.deepEqual(await answer.json(), { tenant: t.slug, sawRawHeader: null })
    }
  })

  it('sends nothing outside a tenant scope (TENANT_CONTEXT_MISSING)', async () => {
    const before = served
    await assert.rejects(signer.fetch('reports')(`http://127.0.0.1:${port}/summary`), expectCode('TENANT_CONTEXT_MISSING'))
    await assert.rejects(signer.headers('reports'), expectCode('TENANT_CONTEXT_MISSING'))
    assert.equal(served, before)
  })

  it('never trusts a raw X-Tenant-ID header', async () => {
    const answer = await call(port, { path: '/summary', headers: { 'x-tenant-id': acme.id } })
    assert.equal(answer.status, 400, answer.text)
    assert.equal(answer.body.error.code, 'TENANT_NOT_IDENTIFIED')
  })

  it('refuses a forged, foreign, expired, too old, unsigned or duplicated assertion (401), and a suspended tenant\'s (403)', async () => {
    const now = Math.floor(Date.now() / 1000)
    const refused: [string, string][] = [
      ['another key', await handMade({ tenant: acme.id }, { key: otherKey })],
      ['not an assertion (a JWT with the same key, issuer and audience but no assertion typ)', await handMade({ tenant: acme.id }, { typ: null })],
      ['another typ', await handMade({ tenant: acme.id }, { typ: 'JWT' })],
      ['another audience', await handMade({ tenant: acme.id }, { aud: 'billing' })],
      ['another issuer', await handMade({ tenant: acme.id }, { iss: 'somebody' })],
      ['expired', await handMade({ tenant: acme.id }, { iat: now - 40, exp: now - 10 })],
      ['too old for the receiver (a long exp does not help)', await handMade({ tenant: acme.id }, { iat: now - 120, exp: now + 3600 })],
      ['no tenant claim', await handMade({ sub: acme.id })],
      ['unsigned (alg none)', `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ tenant: acme.id, iss: 'tasks-api', aud: 'reports', iat: now, exp: now + 30 })).toString('base64url')}.`],
    ]
    for (const [what, token] of refused) {
      const answer = await call(port, { path: '/summary', headers: { [TENANT_ASSERTION_HEADER]: token } })
      assert.equal(answer.status, 401, `${what}: ${answer.text}`)
      assert.equal(answer.body.error.code, 'UNAUTHENTICATED')
    }
    const good = await runWithTenant(acme, () => signer.sign('reports'))
    const doubled = await call(port, { path: '/summary', headers: { [TENANT_ASSERTION_HEADER]: `${good}, ${await runWithTenant(globex, () => signer.sign('reports'))}` } })
    assert.equal(doubled.status, 400, `two assertions are none: ${doubled.text}`)
    const suspended = await call(port, { path: '/summary', headers: await runWithTenant(paused, () => signer.headers('reports')) })
    assert.equal(suspended.status, 403)
    assert.equal(suspended.body.error.code, 'TENANT_SUSPENDED')
    const ok = await call(port, { path: '/summary', headers: { [TENANT_ASSERTION_HEADER]: good } })
    assert.equal(ok.status, 200)
    const handMadeGood = await call(port, { path: '/summary', headers: { [TENANT_ASSERTION_HEADER]: await handMade({ tenant: acme.id }) } })
    assert.equal(handMadeGood.status, 200, 'the refusals above are for what each changes, not for being hand-made')
  })

  it('checks its options', () => {
    assert.throws(() => new TenantAssertionSigner({ key: new Uint8Array(8), algorithm: 'HS256', issuer: 'x' }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new TenantAssertionSigner({ key, algorithm: 'none', issuer: 'x' }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new TenantAssertionSigner({ key, algorithm: 'HS256', issuer: 'x', ttlSeconds: 3600 }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => serviceTenancy({ key, algorithms: ['HS256'], issuer: 'x', audience: 'y', maxAgeSeconds: 0 }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => serviceTenancy({ key, algorithms: ['none'], issuer: 'x', audience: 'y' }), expectCode('VALIDATION_FAILED'))
  })
})
