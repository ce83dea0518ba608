import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { SignJWT } from 'jose'
import {
  TenantResolution,
  createTenantGate,
  isTenantryError,
  jwtResolver,
  jwtTenancy,
  subdomainResolver,
  type Tenant,
  type TenantDirectory,
  type TenantRequest,
} from '@tenantry/core'

const code = (c: string) => (e: unknown) => isTenantryError(e) && e.code === c
const invalidToken = (e: unknown) =>
  isTenantryError(e) && e.code === 'UNAUTHENTICATED' && e.status === 401 && e.headers['WWW-Authenticate'] === 'Bearer error="invalid_token"'
const namesNoTenant = (e: unknown) => invalidToken(e) && /names no tenant/.test((e as Error).message)

function tenant(slug: string): Tenant {
  const now = new Date()
  return { id: randomUUID(), slug, name: slug, status: 'active', plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: now, updatedAt: now }
}

/** An in-memory directory, as in resolve-resolution.test.ts. */
class MemoryDirectory implements TenantDirectory {
  constructor(readonly tenants: readonly Tenant[]) {}
  async getBySlug(slug: string) { return this.tenants.find((t) => t.slug === slug) }
  async getById(id: string) { return this.tenants.find((t) => t.id === id) }
  async getByDomain() { return undefined }
}

const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')
const options = { key: secret, issuer: 'https://auth.test/', audience: 'tasks', algorithms: ['HS256'] }

function sign(claims: Record<string, unknown>, over: { aud?: string; exp?: string | number } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://auth.test/')
    .setAudience(over.aud ?? 'tasks')
    .setIssuedAt()
    .setExpirationTime(over.exp ?? '5m')
    .sign(secret)
}

/** A request to acme's host carrying `token` as a bearer credential. */
const onAcme = (token?: string): TenantRequest => ({
  host: 'acme.localhost:3000',
  path: '/api/projects',
  headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
})

function setup() {
  const acme = tenant('acme')
  const globex = tenant('globex')
  const directory = new MemoryDirectory([acme, globex])
  const jwt = jwtTenancy(options)
  const resolution = new TenantResolution({ resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), jwt.resolver], directory })
  const gate = createTenantGate({ resolution, authenticate: jwt.authenticate }, 'test')
  const pass = (request: TenantRequest) => gate.pass(request, { method: 'GET', route: '/api/projects' })
  return { acme, globex, directory, jwt, resolution, pass }
}

const unusableClaims: [string, Record<string, unknown>][] = [
  ['missing', { sub: 'u1' }],
  ['empty', { tenant: '' }],
  ['null', { tenant: null }],
  ['a number', { tenant: 42 }],
  ['an array', { tenant: ['a', 'b'] }],
  ['an array of one', { tenant: ['acme'] }],
  ['an object', { tenant: {} }],
]

describe('jwtResolver: a valid token must name a tenant', () => {
  const byJwt = jwtResolver(options)

  for (const [what, claims] of unusableClaims) {
    it(`rejects a valid token whose claim is ${what} as UNAUTHENTICATED (invalid_token)`, async () => {
      await assert.rejects(async () => byJwt.identify(onAcme(await sign(claims))), namesNoTenant)
    })
  }

  it('reads the claim named by `claim`, and rejects a token that has only the default one', async () => {
    const byOrg = jwtResolver({ ...options, claim: 'org' })
    assert.deepEqual(await byOrg.identify(onAcme(await sign({ org: 'acme' }))), { by: 'slug', slug: 'acme' })
    await assert.rejects(async () => byOrg.identify(onAcme(await sign({ tenant: 'acme' }))), namesNoTenant)
  })

  it('still leaves a non-JWT bearer (an API key) and a request without one alone', async () => {
    assert.equal(await byJwt.identify(onAcme('tnt_abcdefgh_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')), undefined)
    assert.equal(await byJwt.identify(onAcme()), undefined)
  })

  it('refuses a token reader that is not a function at construction', () => {
    assert.throws(() => jwtResolver({ ...options, token: 'authorization' as never }), code('VALIDATION_FAILED'))
    assert.throws(() => jwtTenancy({ ...options, algorithms: ['none'] }), (e: unknown) => code('VALIDATION_FAILED')(e) && /^jwtTenancy:/.test((e as Error).message))
  })
})

describe('jwtTenancy through TenantResolution and the HTTP gate', () => {
  for (const [what, claims] of unusableClaims) {
    it(`never serves the host's tenant for a valid token whose claim is ${what}`, async () => {
      const { pass } = setup()
      await assert.rejects(async () => pass(onAcme(await sign(claims))), namesNoTenant)
    })
  }

  it("lets a token naming the host's tenant through, with its claims as the authentication", async () => {
    const { acme, pass } = setup()
    const passed = await pass(onAcme(await sign({ tenant: 'acme', sub: 'u1' })))
    assert.equal(passed.tenant.id, acme.id)
    assert.deepEqual((passed.auth as { claims: { sub: string; tenant: string } }).claims.sub, 'u1')
  })

  it("accepts the tenant's id (any case) or its slug in another case", async () => {
    const { acme, pass } = setup()
    assert.equal((await pass(onAcme(await sign({ tenant: acme.id.toUpperCase() })))).tenant.id, acme.id)
    assert.equal((await pass(onAcme(await sign({ tenant: 'ACME' })))).tenant.id, acme.id)
  })

  it('is TENANT_MISMATCH when the token names another tenant than the host', async () => {
    const { globex, pass } = setup()
    await assert.rejects(async () => pass(onAcme(await sign({ tenant: 'globex' }))), code('TENANT_MISMATCH'))
    await assert.rejects(async () => pass(onAcme(await sign({ tenant: globex.id }))), code('TENANT_MISMATCH'))
  })

  it('is UNAUTHENTICATED without a token, or with an API key instead of one', async () => {
    const { pass } = setup()
    await assert.rejects(async () => pass(onAcme()), code('UNAUTHENTICATED'))
    await assert.rejects(async () => pass(onAcme('tnt_abcdefgh_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')), code('UNAUTHENTICATED'))
  })

  it('is still UNAUTHENTICATED for an expired token or one for another audience', async () => {
    const { pass } = setup()
    await assert.rejects(async () => pass(onAcme(await sign({ tenant: 'acme' }, { exp: Math.floor(Date.now() / 1000) - 3600 }))), invalidToken)
    await assert.rejects(async () => pass(onAcme(await sign({ tenant: 'acme' }, { aud: 'billing' }))), invalidToken)
  })

  it('verifies the token once per request: authenticate reuses what the resolver verified', async () => {
    let verifications = 0
    const jwt = jwtTenancy({ ...options, key: undefined, jwks: async () => { verifications++; return secret } })
    const acme = tenant('acme')
    const resolution = new TenantResolution({ resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), jwt.resolver], directory: new MemoryDirectory([acme]) })
    const gate = createTenantGate({ resolution, authenticate: jwt.authenticate }, 'test')
    await gate.pass(onAcme(await sign({ tenant: 'acme' })), { method: 'GET', route: '/' })
    assert.equal(verifications, 1)
  })
})

describe('jwtTenancy.authenticate on its own (the resolver never saw the request)', () => {
  it('is UNAUTHENTICATED for a request without a token', async () => {
    const { acme, jwt } = setup()
    await assert.rejects(async () => jwt.authenticate(onAcme(), acme), (e: unknown) => code('UNAUTHENTICATED')(e) && isTenantryError(e) && e.status === 401)
  })

  it('verifies the token itself: TENANT_MISMATCH for a token naming another tenant', async () => {
    const { acme, jwt } = setup()
    await assert.rejects(async () => jwt.authenticate(onAcme(await sign({ tenant: 'globex' })), acme), code('TENANT_MISMATCH'))
  })

  it('verifies the token itself: UNAUTHENTICATED for an invalid token or one naming no tenant', async () => {
    const { acme, jwt } = setup()
    await assert.rejects(async () => jwt.authenticate(onAcme(await sign({ tenant: 'acme' }, { aud: 'billing' })), acme), invalidToken)
    await assert.rejects(async () => jwt.authenticate(onAcme(await sign({ sub: 'u1' })), acme), namesNoTenant)
    const [header, payload] = (await sign({ tenant: 'acme' })).split('.')
    const forged = `${header}.${payload}.${(await sign({ tenant: 'globex' })).split('.')[2]}`
    await assert.rejects(async () => jwt.authenticate(onAcme(forged), acme), invalidToken)
  })

  it('accepts a valid token naming the tenant, with a host-only resolution', async () => {
    const { acme, directory, jwt } = setup()
    const resolution = new TenantResolution({ resolvers: [subdomainResolver({ baseDomains: ['localhost'] })], directory })
    const gate = createTenantGate({ resolution, authenticate: jwt.authenticate }, 'test')
    const passed = await gate.pass(onAcme(await sign({ tenant: 'acme' })), { method: 'GET', route: '/' })
    assert.equal(passed.tenant.id, acme.id)
    await assert.rejects(async () => gate.pass(onAcme(await sign({ tenant: 'globex' })), { method: 'GET', route: '/' }), code('TENANT_MISMATCH'))
  })

  it('does not reuse a verified answer once the request carries another token', async () => {
    const { acme, resolution, jwt } = setup()
    const request = { ...onAcme(await sign({ tenant: 'acme' })), headers: { authorization: '' } }
    request.headers.authorization = `Bearer ${await sign({ tenant: 'acme' })}`
    await resolution.resolve(request)
    request.headers.authorization = `Bearer ${await sign({ tenant: 'globex' })}`
    await assert.rejects(async () => jwt.authenticate(request, acme), code('TENANT_MISMATCH'))
  })
})
