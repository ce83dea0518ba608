import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { Cluster } from 'ioredis'
import { MemoryCacheStore, TenantCache, runWithTenant, type CacheStore } from '@tenantry/core'
import { RedisCacheStore, hashTagOf, type RedisClient } from '@tenantry/redis'
import { storeTargets, testTenantId, type OpenTarget } from '@tenantry/test-kit'

for (const target of storeTargets()) {
  describe(`tenant cache: ${target.name}`, () => {
    let open: OpenTarget
    let store: CacheStore
    /** A second instance: its own client (Redis) or, in memory, the same store. */
    let otherStore: CacheStore
    const tenantIds: string[] = []
    const tenant = (): { id: string; slug: string; status: 'active' } => {
      const id = testTenantId()
      tenantIds.push(id)
      return { id, slug: `t${tenantIds.length}`, status: 'active' }
    }

    before(async () => {
      open = await target.open()
      if (open.client) {
        store = new RedisCacheStore({ redis: open.client })
        otherStore = new RedisCacheStore({ redis: (await open.newClient()) as RedisClient })
      } else {
        store = new MemoryCacheStore()
        otherStore = store
      }
    })
    after(() => open?.close(tenantIds))

    it('keeps each tenant\'s entries to itself', async () => {
      const cache = new TenantCache({ store, namespace: 'projects' })
      const [a, b] = [tenant(), tenant()]
      await runWithTenant(a, () => cache.set('project:1', { name: 'A' }))
      await runWithTenant(b, () => cache.set('project:1', { name: 'B' }))
      assert.deepEqual(await runWithTenant(a, () => cache.get('project:1')), { name: 'A' })
      assert.deepEqual(await runWithTenant(b, () => cache.get('project:1')), { name: 'B' })
      await runWithTenant(a, () => cache.delete('project:1'))
      assert.equal(await runWithTenant(a, () => cache.get('project:1')), undefined)
      assert.deepEqual(await runWithTenant(b, () => cache.get('project:1')), { name: 'B' })
      const other = new TenantCache({ store, namespace: 'users' })
      assert.equal(await runWithTenant(b, () => other.get('project:1')), undefined, 'namespaces are apart')
    })

    it('flushes a tenant in O(1), seen at once by another instance, other tenants untouched', async () => {
      const here = new TenantCache({ store })
      const there = new TenantCache({ store: otherStore })
      const [a, b] = [tenant(), tenant()]
      for (const t of [a, b]) await runWithTenant(t, async () => { for (let i = 0; i < 5; i++) await here.set(`k${i}`, i) })
      assert.equal(await runWithTenant(a, () => there.get('k2')), 2, 'the other instance reads the shared entry')
      await runWithTenant(a, () => here.flush())
      assert.equal(await runWithTenant(a, () => there.get('k2')), undefined)
      assert.equal(await runWithTenant(b, () => there.get('k2')), 2)
      await runWithTenant(a, () => there.set('k2', 'new'))
      assert.equal(await runWithTenant(a, () => here.get('k2')), 'new')
    })

    it('wrap loads once for concurrent callers and caches for the others', async () => {
      const cache = new TenantCache({ store })
      const other = new TenantCache({ store: otherStore })
      const a = tenant()
      let loads = 0
      const loader = async (): Promise<{ n: number }> => {
        loads++
        await new Promise((r) => setTimeout(r, 30))
        return { n: 42 }
      }
      const values = await runWithTenant(a, () => Promise.all(Array.from({ length: 8 }, () => cache.wrap('answer', 10_000, loader))))
      assert.equal(loads, 1)
      assert.ok(values.every((v) => v.n === 42))
      assert.deepEqual(await runWithTenant(a, () => other.wrap('answer', 10_000, loader)), { n: 42 })
      assert.equal(loads, 1, 'the second instance found it cached')
    })

    it('drops a value loaded while another instance flushed the tenant', async () => {
      const cache = new TenantCache({ store })
      const other = new TenantCache({ store: otherStore })
      const a = tenant()
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const loading = runWithTenant(a, () => cache.wrap('report', 10_000, async () => (await gate, 'before the flush')))
      await new Promise((r) => setTimeout(r, 20))
      await runWithTenant(a, () => other.flush())
      release()
      assert.equal(await loading, 'before the flush')
      assert.equal(await runWithTenant(a, () => other.get('report')), undefined)
      assert.equal(cache.stats().staleWritesDropped, 1)
    })

    it('expires entries after their TTL', async () => {
      const cache = new TenantCache({ store })
      const a = tenant()
      await runWithTenant(a, () => cache.set('short', 'v', 80))
      assert.equal(await runWithTenant(a, () => cache.get('short')), 'v')
      await new Promise((r) => setTimeout(r, 150))
      assert.equal(await runWithTenant(a, () => cache.get('short')), undefined)
    })

    it('never crosses tenants whatever the key holds (property)', async () => {
      const cache = new TenantCache({ store })
      const [a, b] = [tenant(), tenant()]
      const key = fc.string({ unit: fc.oneof(fc.constantFrom(':', '{', '}', '*', '%', '\u0000', '\ud800', 'c', '1'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))), minLength: 1, maxLength: 12 })
      await fc.assert(
        fc.asyncProperty(key, key, async (k1, k2) => {
          await runWithTenant(a, () => cache.set(k1, k1))
          assert.equal(await runWithTenant(b, () => cache.get(k2)), undefined)
          if (k1 !== k2) assert.notEqual(await runWithTenant(a, () => cache.get(k2)), k1)
          await runWithTenant(a, () => cache.delete(k1))
        }),
        { numRuns: 60 },
      )
    })

    if (target.name !== 'memory') {
      it('keeps a tenant\'s keys under its hash tag (one Cluster slot), entries with a TTL', async () => {
        const redisStore = store as RedisCacheStore
        const client = open.client!
        const cache = new TenantCache({ store, namespace: 'n' })
        const a = tenant()
        await runWithTenant(a, () => cache.set('x:{y}*', 1, 60_000))
        const { generation } = await redisStore.read(a.id, 'n:x%3A%7By%7D%2A')
        const entry = redisStore.entryKey(a.id, generation, 'n:x%3A%7By%7D%2A')
        assert.equal(entry, `tenantry:{${a.id}}:c:${generation}:n:x%3A%7By%7D%2A`)
        assert.equal(hashTagOf(entry), a.id)
        assert.equal(hashTagOf(redisStore.generationKey(a.id)), a.id)
        const ttl = await client.pttl(entry)
        assert.ok(ttl > 0 && ttl <= 60_000, `entry pttl ${ttl}`)
        if (client instanceof Cluster) {
          const slots = await Promise.all([entry, redisStore.generationKey(a.id)].map((k) => client.cluster('KEYSLOT', k)))
          assert.equal(slots[0], slots[1])
        }
      })
    }
  })
}
