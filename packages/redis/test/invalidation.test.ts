import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import {
  CachedApiKeyVerifier,
  CachedTenantDirectory,
  TenantResolution,
  isTenantryError,
  subdomainResolver,
  customDomainResolver,
  type TenantChange,
} from '@tenantry/core'
import { TenantCatalog, type TenantRecord } from '@tenantry/postgres'
import { publishTenantChange, redisTenantInvalidation, type PubSubRedis, type TenantInvalidation } from '../src/index.ts'
import { testBackends, type TestDatabase } from '@tenantry/test-kit'

/** An in-process stand-in for Redis pub/sub: one bus, many connections. */
class FakeBus {
  readonly connections = new Set<FakeRedis>()
}
class FakeRedis extends EventEmitter implements PubSubRedis {
  readonly channels = new Set<string>()
  constructor(readonly bus: FakeBus) {
    super()
    bus.connections.add(this)
    queueMicrotask(() => this.emit('ready'))
  }
  async publish(channel: string, message: string) {
    let n = 0
    for (const c of this.bus.connections) if (c.channels.has(channel)) {
      n++
      queueMicrotask(() => c.emit('message', channel, message))
    }
    return n
  }
  async subscribe(channel: string) { this.channels.add(channel) }
  async unsubscribe(channel: string) { this.channels.delete(channel) }
  duplicate() { return new FakeRedis(this.bus) }
  async quit() { this.bus.connections.delete(this) }
}

/** Waits (bounded) until `check` passes; returns how long it took. */
async function eventually(check: () => Promise<boolean>, withinMs = 1000): Promise<number> {
  const start = Date.now()
  while (!(await check())) {
    if (Date.now() - start > withinMs) assert.fail(`not seen within ${withinMs} ms`)
    await sleep(5)
  }
  return Date.now() - start
}

function recorder() {
  const calls: string[] = []
  return {
    calls,
    directory: {
      invalidateTenant: (id: string) => calls.push(`tenant:${id}`),
      invalidateSlug: (s: string) => calls.push(`slug:${s}`),
      invalidateDomain: (d: string) => calls.push(`domain:${d}`),
      clear: () => calls.push('clear'),
    },
    apiKeys: {
      invalidateKey: (k: string) => calls.push(`key:${k}`),
      invalidateTenant: (t: string) => calls.push(`keys-of:${t}`),
      clear: () => calls.push('keys-clear'),
    },
  }
}

describe('redisTenantInvalidation over an in-process bus (no Redis)', () => {
  it('applies a change locally at once and on every other instance, and ignores malformed messages', async () => {
    const bus = new FakeBus()
    const one = recorder()
    const two = recorder()
    const errors: unknown[] = []
    const a = await redisTenantInvalidation({ redis: new FakeRedis(bus), ...one, onError: (e) => errors.push(e) })
    const b = await redisTenantInvalidation({ redis: () => new FakeRedis(bus), ...two, onError: (e) => errors.push(e) })
    const change: TenantChange = { kind: 'api_key.revoked', tenantId: 't1', keyId: 'k1' }
    await a.publish(change)
    assert.ok(one.calls.includes('key:k1'), 'applied locally before publish resolved')
    await eventually(async () => two.calls.includes('key:k1'))
    await new FakeRedis(bus).publish(a.channel, '{"v":1,"change":{"kind":"nope"}}')
    await publishTenantChange(new FakeRedis(bus), { kind: 'tenant.deleted', tenantId: 't2', slug: 'gone' })
    await eventually(async () => two.calls.includes('keys-of:t2') && errors.length >= 2)
    await a.close()
    await b.close()
  })

  it('clears the caches after the subscriber reconnects (changes may have been missed)', async () => {
    const bus = new FakeBus()
    const r = recorder()
    const made: FakeRedis[] = []
    // The factory is called for the publisher, then for the subscriber.
    const inv = await redisTenantInvalidation({ redis: () => made[made.push(new FakeRedis(bus)) - 1]!, ...r })
    await sleep(1)
    assert.deepEqual(r.calls, [])
    made[1]!.emit('ready')
    assert.deepEqual(r.calls, ['clear', 'keys-clear'])
    await inv.close()
  })

  it('refuses a missing client or channel at start', async () => {
    await assert.rejects(redisTenantInvalidation({ redis: {} as PubSubRedis }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    await assert.rejects(redisTenantInvalidation({ redis: new FakeRedis(new FakeBus()), channel: '' }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
})

const redisUrl = process.env.TENANTRY_REDIS_URL

describe('redisTenantInvalidation: two instances on real Redis', { skip: redisUrl === undefined ? 'TENANTRY_REDIS_URL not set' : false }, () => {
  const [backend] = testBackends()
  let db: TestDatabase
  let catalog: TenantCatalog
  const channel = `tenantry:invalidate:test:${randomBytes(6).toString('hex')}`
  const connect = () => new Redis(redisUrl!, { lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null })
  const instances: {
    directory: CachedTenantDirectory<TenantRecord>
    apiKeys: CachedApiKeyVerifier
    resolution: TenantResolution<TenantRecord>
    invalidation: TenantInvalidation
  }[] = []
  let off: () => void

  before(async () => {
    // Fail, never skip, when the URL is set but Redis is unreachable.
    const probe = connect()
    try {
      assert.equal(await probe.ping(), 'PONG')
    } finally {
      probe.disconnect()
    }
    ;({ db } = { db: await backend!.createDatabase() })
    catalog = new TenantCatalog({ target: db })
    await catalog.install()
    for (let i = 0; i < 2; i++) {
      // Long TTLs: anything seen below within a second is invalidation, not expiry.
      const directory = new CachedTenantDirectory(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
      const apiKeys = new CachedApiKeyVerifier(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
      const invalidation = await redisTenantInvalidation({ redis: connect, channel, directory, apiKeys })
      const resolution = new TenantResolution({ resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), customDomainResolver()], directory })
      instances.push({ directory, apiKeys, resolution, invalidation })
    }
    // Instance 1 is the one whose catalog writes are published.
    off = catalog.onChange(instances[0]!.invalidation.listener)
  })
  after(async () => {
    off?.()
    await Promise.all(instances.map((i) => i.invalidation.close()))
    await db?.close()
  })

  const request = (host: string) => ({ host, path: '/api/projects', headers: {} })
  const codeOf = (p: Promise<unknown>) => p.then(() => 'OK', (e: unknown) => (isTenantryError(e) ? e.code : String(e)))

  it('a suspend and a resume on instance 1 are seen by instance 2 within 1 s', async () => {
    const [, two] = instances as [typeof instances[0], typeof instances[0]]
    const t = await catalog.create({ slug: `inv-${randomBytes(3).toString('hex')}`, name: 'Inv' })
    assert.equal(await codeOf(two.resolution.resolve(request(`${t.slug}.localhost`))), 'OK')
    await catalog.suspend(t.id)
    await eventually(async () => (await codeOf(two.resolution.resolve(request(`${t.slug}.localhost`)))) === 'TENANT_SUSPENDED')
    await catalog.resume(t.id)
    await eventually(async () => (await codeOf(two.resolution.resolve(request(`${t.slug}.localhost`)))) === 'OK')
  })

  it('a domain change and a new tenant (negatively cached on instance 2) are seen within 1 s', async () => {
    const [, two] = instances as [typeof instances[0], typeof instances[0]]
    const slug = `dom-${randomBytes(3).toString('hex')}`
    const domain = `${slug}.example.org`
    assert.equal(await codeOf(two.resolution.resolve(request(`${slug}.localhost`))), 'TENANT_NOT_FOUND')
    assert.equal(await codeOf(two.resolution.resolve(request(domain))), 'TENANT_NOT_FOUND')
    const t = await catalog.create({ slug, name: 'Dom' })
    await eventually(async () => (await codeOf(two.resolution.resolve(request(`${slug}.localhost`)))) === 'OK')
    await catalog.addDomain(t.id, domain)
    await eventually(async () => (await two.directory.getByDomain(domain))?.id === t.id)
    await catalog.removeDomain(domain)
    await eventually(async () => (await codeOf(two.resolution.resolve(request(domain)))) === 'TENANT_NOT_FOUND')
  })

  it('a key revocation and a deletion are seen within 1 s', async () => {
    const [, two] = instances as [typeof instances[0], typeof instances[0]]
    const t = await catalog.create({ slug: `del-${randomBytes(3).toString('hex')}`, name: 'Del' })
    const { id: keyId, key } = await catalog.createApiKey(t.id)
    const other = await catalog.createApiKey(t.id)
    assert.equal((await two.apiKeys.verifyApiKey(key))?.keyId, keyId)
    assert.equal((await two.apiKeys.verifyApiKey(other.key))?.keyId, other.id)
    await catalog.revokeApiKey(keyId)
    await eventually(async () => (await two.apiKeys.verifyApiKey(key)) === undefined)
    assert.equal((await two.apiKeys.verifyApiKey(other.key))?.keyId, other.id)
    await catalog.beginOffboarding(t.id)
    await catalog.markDeleted(t.id)
    await eventually(async () => (await codeOf(two.resolution.resolve(request(`${t.slug}.localhost`)))) === 'TENANT_NOT_FOUND')
    await eventually(async () => (await two.apiKeys.verifyApiKey(other.key)) === undefined)
  })
})
