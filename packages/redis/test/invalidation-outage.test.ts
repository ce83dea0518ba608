/**
 * While the invalidation subscriber is cut off from Redis, other instances'
 * changes cannot arrive: the caches must not keep a tenant beyond about a second.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { CachedTenantDirectory, type Tenant } from '@tenantry/core'
import { redisTenantInvalidation, type TenantInvalidation } from '../src/index.ts'
import { commandOnPath, startThrowawayRedis, type ThrowawayRedis } from '@tenantry/test-kit'

const acme: Tenant = {
  id: '7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10', slug: 'acme', name: 'Acme', status: 'active', plan: 'free',
  isolation: 'shared', placement: {}, settings: {}, createdAt: new Date(), updatedAt: new Date(),
}

describe('tenant invalidation during a Redis outage', { skip: !commandOnPath('redis-server') && 'needs redis-server on PATH' }, () => {
  let server: ThrowawayRedis
  let invalidation: TenantInvalidation
  let lookups = 0
  let current: Tenant = acme
  const directory = new CachedTenantDirectory({
    getBySlug: async () => { lookups++; return current },
    getById: async () => current,
    getByDomain: async () => undefined,
  }, { ttlMs: 60_000 })

  before(async () => {
    server = await startThrowawayRedis()
    invalidation = await redisTenantInvalidation({
      redis: () => new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 }) as never,
      directory,
      onError: () => undefined,
    })
  })
  after(async () => {
    await Promise.race([invalidation.close(), sleep(2000)])
    await server.stop()
  })

  it('stops serving a cached tenant within about a second once the subscriber is cut off, and again after reconnecting', async () => {
    assert.equal((await directory.getBySlug('acme'))?.status, 'active')
    assert.equal((await directory.getBySlug('acme'))?.status, 'active')
    assert.equal(lookups, 1, 'cached')
    await server.kill()
    // Another instance suspends acme meanwhile; its message cannot arrive.
    current = { ...acme, status: 'suspended' }
    await sleep(1200)
    assert.equal((await directory.getBySlug('acme'))?.status, 'suspended', 'the cache did not outlive the outage bound')
    await server.restart()
    await sleep(1500)
    const before = lookups
    await directory.getBySlug('acme')
    await directory.getBySlug('acme')
    assert.ok(lookups - before <= 1, 'caching again once the subscriber is back')
  })
})
