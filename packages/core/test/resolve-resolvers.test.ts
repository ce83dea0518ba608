import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type KeyLike } from 'jose'
import {
  customDomainResolver,
  headerResolver,
  isTenantryError,
  jwtResolver,
  pathResolver,
  portResolver,
  subdomainResolver,
  type TenantRequest,
} from '@tenantry/core'

const req = (over: Partial<TenantRequest>): TenantRequest => ({ path: '/', headers: {}, ...over })
const code = (c: string) => (e: unknown) => isTenantryError(e) && e.code === c

describe('subdomainResolver', () => {
  const bySubdomain = subdomainResolver({ baseDomains: ['localhost', 'Example.com', 'app.example.com'] })

  it('reads the slug from the first label under a base domain, port and case ignored', () => {
    assert.deepEqual(bySubdomain.identify(req({ host: 'acme.localhost:3000' })), { by: 'slug', slug: 'acme' })
    assert.deepEqual(bySubdomain.identify(req({ host: 'ACME.Example.COM.' })), { by: 'slug', slug: 'acme' })
  })

  it('prefers the longest base domain', () => {
    assert.deepEqual(bySubdomain.identify(req({ host: 'globex.app.example.com' })), { by: 'slug', slug: 'globex' })
  })

  it('identifies no tenant on the bare base domain, IPs, other hosts or no host', () => {
    for (const host of ['localhost:3000', 'example.com', '127.0.0.1:3000', '[::1]:3000', 'acme.other.org', undefined, '']) {
      assert.equal(bySubdomain.identify(req({ host })), undefined, String(host))
    }
  })

  it('refuses reserved names, nested subdomains and labels that are not slugs (undefined)', () => {
    for (const host of ['www.example.com', 'api.localhost', 'admin.localhost:3000', 'pg-x.localhost', 'x.acme.localhost', 'a_b.localhost', '-a.localhost']) {
      assert.equal(bySubdomain.identify(req({ host })), undefined, host)
    }
  })

  it('fails at construction without base domains', () => {
    assert.throws(() => subdomainResolver({ baseDomains: [] }), code('VALIDATION_FAILED'))
    assert.throws(() => subdomainResolver({ baseDomains: ['http://x.com'] }), code('VALIDATION_FAILED'))
  })
})

describe('customDomainResolver', () => {
  const byDomain = customDomainResolver({ excludeBaseDomains: ['example.com'] })

  it('takes any other host as a custom domain, lowercased without port', () => {
    assert.deepEqual(byDomain.identify(req({ host: 'Tasks.Acme.COM:8443' })), { by: 'domain', domain: 'tasks.acme.com' })
  })

  it('ignores IP literals, localhost, single labels and the excluded base domains with their subdomains', () => {
    for (const host of ['127.0.0.1', '[::1]:80', 'localhost:3000', 'acme.localhost', 'intranet', 'example.com', 'acme.example.com', undefined]) {
      assert.equal(byDomain.identify(req({ host })), undefined, String(host))
    }
  })
})

describe('headerResolver', () => {
  const byHeader = headerResolver()

  it('reads a slug, lowercased, or an id when the value is a UUID', () => {
    assert.deepEqual(byHeader.identify(req({ headers: { 'x-tenant-id': ' Acme ' } })), { by: 'slug', slug: 'acme' })
    const id = '7D0B3A52-5C39-4E4B-9A53-0D5A1F6C2A10'
    assert.deepEqual(byHeader.identify(req({ headers: { 'x-tenant-id': id } })), { by: 'id', id: id.toLowerCase() })
  })

  it('says nothing without the header or with an empty one', () => {
    assert.equal(byHeader.identify(req({})), undefined)
    assert.equal(byHeader.identify(req({ headers: { 'x-tenant-id': '  ' } })), undefined)
  })

  it('is TENANT_MISMATCH when the header names two tenants', () => {
    assert.throws(() => byHeader.identify(req({ headers: { 'x-tenant-id': ['acme', 'globex'] } })), code('TENANT_MISMATCH'))
    assert.throws(() => byHeader.identify(req({ headers: { 'x-tenant-id': 'acme, globex' } })), code('TENANT_MISMATCH'))
    assert.deepEqual(byHeader.identify(req({ headers: { 'x-tenant-id': ['acme', 'acme'] } })), { by: 'slug', slug: 'acme' })
  })

  it('uses another header when told', () => {
    assert.deepEqual(headerResolver({ header: 'X-Org' }).identify(req({ headers: { 'x-org': 'acme' } })), { by: 'slug', slug: 'acme' })
    assert.throws(() => headerResolver({ header: 'bad header' }), code('VALIDATION_FAILED'))
  })
})

describe('pathResolver', () => {
  it('reads the segment after the prefix', () => {
    const byPath = pathResolver()
    assert.deepEqual(byPath.identify(req({ path: '/t/acme/api/projects' })), { by: 'slug', slug: 'acme' })
    assert.deepEqual(byPath.identify(req({ path: '/t/acme' })), { by: 'slug', slug: 'acme' })
    assert.equal(byPath.identify(req({ path: '/t/' })), undefined)
    assert.equal(byPath.identify(req({ path: '/api/projects' })), undefined)
    assert.equal(byPath.identify(req({ path: '/tenants/acme' })), undefined)
  })

  it('takes a custom prefix with or without the trailing slash', () => {
    assert.deepEqual(pathResolver({ prefix: '/orgs' }).identify(req({ path: '/orgs/globex/x' })), { by: 'slug', slug: 'globex' })
  })
})

describe('portResolver', () => {
  it('maps the local port to a slug', () => {
    const byPort = portResolver({ ports: { 8081: 'acme' } })
    assert.deepEqual(byPort.identify(req({ localPort: 8081 })), { by: 'slug', slug: 'acme' })
    assert.equal(byPort.identify(req({ localPort: 8082 })), undefined)
    assert.equal(byPort.identify(req({})), undefined)
  })

  it('fails at construction for bad ports or slugs', () => {
    assert.throws(() => portResolver({ ports: { 0: 'acme' } }), code('VALIDATION_FAILED'))
    assert.throws(() => portResolver({ ports: { 80: 'www' } }), code('VALIDATION_FAILED'))
  })
})

describe('jwtResolver', async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const other = await generateKeyPair('RS256')
  const base = { key: publicKey, issuer: 'https://auth.test/', audience: 'tasks', algorithms: ['RS256'] }
  const byJwt = jwtResolver(base)
  const sign = (claims: Record<string, unknown>, over: { iss?: string; aud?: string; exp?: string | number; key?: KeyLike } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(over.iss ?? 'https://auth.test/')
      .setAudience(over.aud ?? 'tasks')
      .setIssuedAt()
      .setExpirationTime(over.exp ?? '5m')
      .sign(over.key ?? privateKey)
  const bearer = (token: string) => req({ headers: { authorization: `Bearer ${token}` } })

  it('identifies the tenant from the claim of a valid token', async () => {
    assert.deepEqual(await byJwt.identify(bearer(await sign({ tenant: 'acme' }))), { by: 'slug', slug: 'acme' })
  })

  it('rejects an unsigned (alg none) token', async () => {
    const unsigned = new UnsecuredJWT({ tenant: 'acme' }).setIssuer('https://auth.test/').setAudience('tasks').setExpirationTime('5m').encode()
    await assert.rejects(async () => byJwt.identify(bearer(unsigned)), code('UNAUTHENTICATED'))
  })

  it('rejects a token signed by another key, expired, or of another issuer or audience', async () => {
    const bad = [
      await sign({ tenant: 'acme' }, { key: other.privateKey }),
      await sign({ tenant: 'acme' }, { exp: Math.floor(Date.now() / 1000) - 3600 }),
      await sign({ tenant: 'acme' }, { iss: 'https://evil.test/' }),
      await sign({ tenant: 'acme' }, { aud: 'billing' }),
    ]
    for (const token of bad) await assert.rejects(async () => byJwt.identify(bearer(token)), code('UNAUTHENTICATED'))
  })

  it('rejects a signed token without exp (it would be good forever)', async () => {
    const forever = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://auth.test/').setAudience('tasks').setIssuedAt().sign(privateKey)
    await assert.rejects(async () => byJwt.identify(bearer(forever)), code('UNAUTHENTICATED'))
  })

  it('rejects a token whose payload was altered after signing', async () => {
    const [h, , s] = (await sign({ tenant: 'acme' })).split('.')
    const forged = Buffer.from(JSON.stringify({ tenant: 'globex', iss: 'https://auth.test/', aud: 'tasks', exp: 9999999999 })).toString('base64url')
    await assert.rejects(async () => byJwt.identify(bearer(`${h}.${forged}.${s}`)), code('UNAUTHENTICATED'))
  })

  it('leaves non-JWT bearer credentials (API keys) and requests without a token alone', async () => {
    assert.equal(await byJwt.identify(bearer('tnt_abcdefgh_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')), undefined)
    assert.equal(await byJwt.identify(req({})), undefined)
  })

  it('rejects a valid token without the claim (it names no tenant)', async () => {
    await assert.rejects(async () => byJwt.identify(bearer(await sign({ sub: 'u1' }))), code('UNAUTHENTICATED'))
  })

  it('verifies HS256 with a secret and RS256 through a local JWKS', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')
    const hs = jwtResolver({ key: secret, issuer: 'https://auth.test/', audience: 'tasks', algorithms: ['HS256'], claim: 'org' })
    const token = await new SignJWT({ org: 'globex' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://auth.test/').setAudience('tasks').setExpirationTime('5m').sign(secret)
    assert.deepEqual(await hs.identify(bearer(token)), { by: 'slug', slug: 'globex' })
    // An RS256 token is refused by a resolver that accepts only HS256.
    await assert.rejects(async () => hs.identify(bearer(await sign({ org: 'globex' }))), code('UNAUTHENTICATED'))

    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }
    const viaJwks = jwtResolver({ jwks: { keys: [jwk] }, issuer: 'https://auth.test/', audience: 'tasks', algorithms: ['RS256'] })
    const kidToken = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://auth.test/').setAudience('tasks').setExpirationTime('5m').sign(privateKey)
    assert.deepEqual(await viaJwks.identify(bearer(kidToken)), { by: 'slug', slug: 'acme' })
  })

  it('refuses alg none and missing keys at construction', () => {
    assert.throws(() => jwtResolver({ ...base, algorithms: ['none'] }), code('VALIDATION_FAILED'))
    assert.throws(() => jwtResolver({ issuer: 'x', audience: 'y', algorithms: ['RS256'] }), code('VALIDATION_FAILED'))
  })
})
