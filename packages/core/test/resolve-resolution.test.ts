import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import {
  CachedApiKeyVerifier,
  CachedTenantDirectory,
  TenantResolution,
  apiKeyAuthenticator,
  applyTenantChange,
  currentTenant,
  runWithTenant,
  TenantryError,
  customDomainResolver,
  headerResolver,
  isTenantryError,
  pathResolver,
  subdomainResolver,
  type ApiKeyOwner,
  type Tenant,
  type TenantDirectory,
  type TenantRequest,
  type TenantStatus,
} from '@tenantry/core'

const code = (c: string) => (e: unknown) => isTenantryError(e) && e.code === c

function tenant(slug: string, status: TenantStatus = 'active'): Tenant & { domains: string[] } {
  const now = new Date()
  return { id: randomUUID(), slug, name: slug, status, plan: 'free', isolation: 'shared', placement: {}, settings: {}, createdAt: now, updatedAt: now, domains: [] }
}

/** An in-memory directory that counts its lookups and can be slowed down. */
class MemoryDirectory implements TenantDirectory {
  readonly tenants: (Tenant & { domains: string[] })[] = []
  calls = 0
  delayMs = 0
  async #find(match: (t: Tenant & { domains: string[] }) => boolean): Promise<Tenant | undefined> {
    this.calls++
    // Read first, answer later: like a query whose snapshot predates a concurrent change.
    const found = this.tenants.find((t) => t.status !== 'deleted' && match(t))
    if (this.delayMs) await sleep(this.delayMs)
    return found === undefined ? undefined : { ...found }
  }
  getBySlug(slug: string) { return this.#find((t) => t.slug === slug) }
  getById(id: string) { return this.#find((t) => t.id === id) }
  getByDomain(domain: string) { return this.#find((t) => t.domains.includes(domain)) }
  set(slug: string, patch: Partial<Tenant & { domains: string[] }>) {
    const i = this.tenants.findIndex((t) => t.slug === slug)
    this.tenants[i] = { ...this.tenants[i]!, ...patch }
  }
}

function setup() {
  const directory = new MemoryDirectory()
  const acme = tenant('acme')
  acme.domains.push('tasks.acme.com')
  const globex = tenant('globex')
  const initech = tenant('initech', 'suspended')
  directory.tenants.push(acme, globex, initech)
  const resolution = new TenantResolution({
    resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), customDomainResolver(), headerResolver(), pathResolver()],
    directory,
  })
  return { directory, resolution, acme, globex, initech }
}
const req = (over: Partial<TenantRequest>): TenantRequest => ({ path: '/api/projects', headers: {}, ...over })

describe('TenantResolution', () => {
  it('resolves by subdomain, custom domain, header (slug or id) and path', async () => {
    const { resolution, acme } = setup()
    for (const request of [
      req({ host: 'acme.localhost:3000' }),
      req({ host: 'tasks.acme.com' }),
      req({ host: 'localhost:3000', headers: { 'x-tenant-id': 'acme' } }),
      req({ host: '127.0.0.1', headers: { 'x-tenant-id': acme.id } }),
      req({ host: 'localhost', path: '/t/acme/api/projects' }),
    ]) {
      assert.equal((await resolution.resolve(request)).id, acme.id, JSON.stringify(request))
    }
  })

  it('accepts resolvers that agree, even through different identifiers', async () => {
    const { resolution, acme } = setup()
    assert.equal((await resolution.resolve(req({ host: 'tasks.acme.com', headers: { 'x-tenant-id': acme.id } }))).slug, 'acme')
    assert.equal((await resolution.resolve(req({ host: 'acme.localhost', headers: { 'x-tenant-id': 'acme' } }))).slug, 'acme')
  })

  it('is TENANT_MISMATCH when host and header name different tenants', async () => {
    const { resolution } = setup()
    await assert.rejects(resolution.resolve(req({ host: 'acme.localhost', headers: { 'x-tenant-id': 'globex' } })), (e: unknown) => {
      assert.ok(isTenantryError(e, 'TENANT_MISMATCH'))
      assert.deepEqual(e.details, [
        { resolver: 'subdomain', identifier: 'slug "acme"' },
        { resolver: 'header', identifier: 'slug "globex"' },
      ])
      return true
    })
    await assert.rejects(resolution.resolve(req({ host: 'tasks.acme.com', path: '/t/globex/x' })), code('TENANT_MISMATCH'))
  })

  it('is TENANT_NOT_IDENTIFIED when nothing names a tenant', async () => {
    const { resolution } = setup()
    await assert.rejects(resolution.resolve(req({ host: 'localhost:3000' })), code('TENANT_NOT_IDENTIFIED'))
    assert.equal(await resolution.identify(req({ host: 'www.localhost' })), undefined)
  })

  it('is TENANT_NOT_FOUND for unknown, deleted and impossible identifiers, without querying impossible ones', async () => {
    const { resolution, directory } = setup()
    directory.tenants.push(tenant('gone', 'deleted'))
    for (const request of [
      req({ host: 'nobody.localhost' }),
      req({ host: 'gone.localhost' }),
      req({ host: 'unknown.example.org' }),
      req({ headers: { 'x-tenant-id': randomUUID() } }),
    ]) {
      await assert.rejects(resolution.resolve(request), code('TENANT_NOT_FOUND'), JSON.stringify(request))
    }
    const before = directory.calls
    await assert.rejects(resolution.resolve(req({ headers: { 'x-tenant-id': 'Not A Slug!' } })), code('TENANT_NOT_FOUND'))
    await assert.rejects(resolution.resolve(req({ headers: { 'x-tenant-id': 'admin' } })), code('TENANT_NOT_FOUND'))
    assert.equal(directory.calls, before)
  })

  it('is TENANT_SUSPENDED for a tenant that is not active', async () => {
    const { resolution } = setup()
    await assert.rejects(resolution.resolve(req({ host: 'initech.localhost' })), code('TENANT_SUSPENDED'))
  })

  it('wraps the directory in a cache when asked, and identify() answers without a lookup', async () => {
    const { directory } = setup()
    const resolution = new TenantResolution({ resolvers: [headerResolver(), subdomainResolver({ baseDomains: ['localhost'] })], directory, cache: { ttlMs: 60_000 } })
    assert.ok(resolution.directory instanceof CachedTenantDirectory)
    const request = req({ host: 'acme.localhost', headers: { 'x-tenant-id': 'acme' } })
    assert.deepEqual(await resolution.identify(request), { by: 'slug', slug: 'acme' })
    assert.equal(directory.calls, 0)
    assert.deepEqual((await resolution.identifyAll(request)).map((a) => a.resolver), ['header', 'subdomain'])
    await resolution.resolve(request)
    await resolution.resolve(request)
    assert.equal(directory.calls, 1)
  })

  it('fails at construction without resolvers or a directory', () => {
    assert.throws(() => new TenantResolution({ resolvers: [], directory: new MemoryDirectory() }), code('VALIDATION_FAILED'))
    assert.throws(() => new TenantResolution({ resolvers: [headerResolver()], directory: {} as TenantDirectory }), code('VALIDATION_FAILED'))
  })
})

describe('CachedTenantDirectory', () => {
  it('serves repeated lookups from memory and caches a tenant under its slug and id', async () => {
    const { directory, acme } = setup()
    const cached = new CachedTenantDirectory(directory)
    assert.equal((await cached.getBySlug('acme'))?.id, acme.id)
    assert.equal((await cached.getBySlug('acme'))?.id, acme.id)
    assert.equal((await cached.getById(acme.id))?.slug, 'acme')
    assert.equal(directory.calls, 1)
    assert.deepEqual({ ...cached.stats(), size: undefined }, { hits: 2, negativeHits: 0, misses: 1, loads: 1, size: undefined })
  })

  it('hands out a deep-frozen copy: code holding it cannot change it for the next request, and a scope takes it as it is', async () => {
    const { directory, acme, globex } = setup()
    const cached = new CachedTenantDirectory(directory)
    const first = await cached.getBySlug('acme')
    assert.ok(first !== undefined && Object.isFrozen(first) && Object.isFrozen(first.placement) && Object.isFrozen(first.settings))
    // A handler or an observer rewriting it (strict mode: a TypeError) changes nothing for the next lookup.
    assert.throws(() => ((first as { id: string }).id = globex.id), TypeError)
    assert.throws(() => (first.createdAt as Date).setFullYear(2000), TypeError)
    const next = await cached.getBySlug('acme')
    assert.equal(next?.id, acme.id)
    assert.equal(next, first, 'served from memory')
    // The scope holds this very object: no second copy per request.
    assert.equal(await runWithTenant(next!, async () => currentTenant()), next)
  })

  it('refuses a tenant from its source that it cannot freeze as INTERNAL naming the directory, not as the request\'s bad input', async () => {
    const { directory } = setup()
    directory.set('acme', { settings: { limits: new Map([['rpm', 10]]) } as unknown as Tenant['settings'] })
    directory.set('globex', { id: 'not-a-uuid' })
    const cached = new CachedTenantDirectory(directory)
    for (const [slug, path] of [['acme', 'tenant.settings.limits'], ['globex', 'tenant.id']] as const) {
      await assert.rejects(cached.getBySlug(slug), (e: unknown) => {
        assert.ok(isTenantryError(e) && e.code === 'INTERNAL', `${slug}: ${String(e)}`)
        assert.match(e.message, /^CachedTenantDirectory: the tenant directory returned /)
        assert.equal((e.details as { path: string }[] | undefined)?.[0]?.path, path)
        return true
      })
    }
    // runWithTenant given the same object is still the caller's bad input.
    assert.throws(() => runWithTenant(directory.tenants[0]!, () => undefined), (e: unknown) => isTenantryError(e) && e.code === 'VALIDATION_FAILED' && /^runWithTenant got a tenant it cannot freeze: tenant\.settings\.limits/.test(e.message))
  })

  it('remembers "not found" until the negative TTL passes', async () => {
    const { directory } = setup()
    const cached = new CachedTenantDirectory(directory, { negativeTtlMs: 30 })
    assert.equal(await cached.getBySlug('hooli'), undefined)
    directory.tenants.push(tenant('hooli'))
    assert.equal(await cached.getBySlug('hooli'), undefined)
    assert.equal(directory.calls, 1)
    await sleep(60)
    assert.equal((await cached.getBySlug('hooli'))?.slug, 'hooli')
  })

  it('makes one source lookup for many concurrent misses', async () => {
    const { directory } = setup()
    directory.delayMs = 20
    const cached = new CachedTenantDirectory(directory)
    const all = await Promise.all(Array.from({ length: 50 }, () => cached.getBySlug('globex')))
    assert.ok(all.every((t) => t?.slug === 'globex'))
    assert.equal(directory.calls, 1)
  })

  it('forgets a tenant on invalidateTenant, under every identifier', async () => {
    const { directory, acme } = setup()
    const cached = new CachedTenantDirectory(directory)
    await cached.getByDomain('tasks.acme.com')
    directory.set('acme', { status: 'suspended' })
    assert.equal((await cached.getBySlug('acme'))?.status, 'active')
    cached.invalidateTenant(acme.id)
    assert.equal((await cached.getBySlug('acme'))?.status, 'suspended')
    assert.equal((await cached.getByDomain('tasks.acme.com'))?.status, 'suspended')
  })

  it('does not store a lookup that was in flight when an invalidation came', async () => {
    const { directory, acme } = setup()
    directory.delayMs = 30
    const cached = new CachedTenantDirectory(directory)
    const stale = cached.getBySlug('acme')
    await sleep(5)
    directory.set('acme', { status: 'suspended' })
    cached.invalidateTenant(acme.id)
    assert.equal((await stale)?.status, 'active')
    assert.equal((await cached.getBySlug('acme'))?.status, 'suspended')
  })

  it('applies catalog changes: a new slug, a moved domain, a deletion', async () => {
    const { directory, acme, globex } = setup()
    const cached = new CachedTenantDirectory(directory)
    assert.equal(await cached.getBySlug('hooli'), undefined)
    const hooli = tenant('hooli')
    directory.tenants.push(hooli)
    applyTenantChange({ kind: 'tenant.created', tenantId: hooli.id, slug: 'hooli' }, { directory: cached })
    assert.equal((await cached.getBySlug('hooli'))?.id, hooli.id)

    assert.equal((await cached.getByDomain('tasks.acme.com'))?.id, acme.id)
    directory.set('acme', { domains: [] })
    directory.set('globex', { domains: ['tasks.acme.com'] })
    applyTenantChange({ kind: 'domain.removed', tenantId: acme.id, slug: 'acme', domains: ['tasks.acme.com'] }, { directory: cached })
    assert.equal((await cached.getByDomain('tasks.acme.com'))?.id, globex.id)

    directory.set('globex', { status: 'deleted' })
    applyTenantChange({ kind: 'tenant.deleted', tenantId: globex.id, slug: 'globex' }, { directory: cached })
    assert.equal(await cached.getBySlug('globex'), undefined)
    assert.equal(await cached.getByDomain('tasks.acme.com'), undefined)
  })

  it('does not cache errors from the source', async () => {
    let fail = true
    const flaky: TenantDirectory = {
      async getBySlug(slug) { if (fail) throw new Error('db down'); return tenant(slug) },
      async getById() { return undefined },
      async getByDomain() { return undefined },
    }
    const cached = new CachedTenantDirectory(flaky)
    await assert.rejects(cached.getBySlug('acme'), /db down/)
    fail = false
    assert.equal((await cached.getBySlug('acme'))?.slug, 'acme')
  })

  it('rejects nonsense options at construction', () => {
    assert.throws(() => new CachedTenantDirectory(new MemoryDirectory(), { ttlMs: 0 }), code('VALIDATION_FAILED'))
  })
})

describe('API keys', () => {
  function keys() {
    const owners = new Map<string, ApiKeyOwner>()
    const seen: string[] = []
    const source = {
      calls: 0,
      async verifyApiKey(key: string) {
        source.calls++
        seen.push(key)
        return owners.get(key)
      },
    }
    return { owners, source, seen }
  }

  it('authenticates a Bearer key of the tenant and refuses missing, unknown and foreign keys', async () => {
    const { acme, globex } = setup()
    const { owners, source } = keys()
    owners.set('key-a', { keyId: 'ka', tenantId: acme.id })
    const authenticate = apiKeyAuthenticator(source)
    assert.deepEqual(await authenticate(req({ headers: { authorization: 'Bearer key-a' } }), acme), { keyId: 'ka' })
    await assert.rejects(authenticate(req({}), acme), (e: unknown) => {
      assert.ok(isTenantryError(e, 'UNAUTHENTICATED'))
      assert.match(e.headers['WWW-Authenticate'] ?? '', /^Bearer/)
      return true
    })
    await assert.rejects(authenticate(req({ headers: { authorization: 'Basic a2V5' } }), acme), code('UNAUTHENTICATED'))
    await assert.rejects(authenticate(req({ headers: { authorization: 'Bearer nope' } }), acme), code('UNAUTHENTICATED'))
    await assert.rejects(authenticate(req({ headers: { authorization: 'Bearer key-a' } }), globex), code('TENANT_MISMATCH'))
  })

  it('caches by hash, negatively too, single-flights, and forgets a revoked key', async () => {
    const { owners, source } = keys()
    owners.set('key-a', { keyId: 'ka', tenantId: 't1' })
    const cached = new CachedApiKeyVerifier(source)
    await Promise.all([cached.verifyApiKey('key-a'), cached.verifyApiKey('key-a'), cached.verifyApiKey('key-a')])
    assert.equal(source.calls, 1)
    assert.equal(await cached.verifyApiKey('nope'), undefined)
    assert.equal(await cached.verifyApiKey('nope'), undefined)
    assert.equal(source.calls, 2)
    owners.delete('key-a')
    assert.deepEqual(await cached.verifyApiKey('key-a'), { keyId: 'ka', tenantId: 't1' })
    applyTenantChange({ kind: 'api_key.revoked', tenantId: 't1', keyId: 'ka' }, { apiKeys: cached })
    assert.equal(await cached.verifyApiKey('key-a'), undefined)
  })
})

