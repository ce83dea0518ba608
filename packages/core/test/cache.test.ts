import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  MemoryCacheStore,
  TenantCache,
  decodeKeyPart,
  encodeKeyPart,
  isTenantryError,
  runWithTenant,
  type CacheRead,
  type CacheStore,
  type FairShareLogger,
} from '@tenantry/core'

const acme = { id: '0b5e4a4e-3d0c-4c55-9d8e-5a1c8f0e7a11', slug: 'acme', status: 'active' as const }
const globex = { id: '7f1c2a9b-6e3d-4f21-8a5b-2c9d0e1f3a42', slug: 'globex', status: 'active' as const }

const asAcme = <T>(fn: () => T): T => runWithTenant(acme, fn)
const asGlobex = <T>(fn: () => T): T => runWithTenant(globex, fn)

function recordingLogger(): FairShareLogger & { lines: string[] } {
  const lines: string[] = []
  return { lines, warn: (_details, message) => void lines.push(message) }
}

/** Strings of any UTF-16 code units (lone surrogates too), rich in the characters that could break a key. */
const anyKey = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.oneof(fc.constantFrom(':', '{', '}', '*', '%', '\u0000', '\ud800', 'u', '2', 'A'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))),
    minLength,
    maxLength: 30,
  })

describe('key encoding', () => {
  it('keeps safe keys as they are and escapes everything else', () => {
    assert.equal(encodeKeyPart('project-42.v1_x'), 'project-42.v1_x')
    assert.equal(encodeKeyPart('a:b{c}*d'), 'a%3Ab%7Bc%7D%2Ad')
    assert.equal(encodeKeyPart('%'), '%25')
    assert.equal(encodeKeyPart('é\u0000\ud800'), '%E9%00%uD800')
  })

  it('is one-to-one and never emits a separator, brace, glob or control character (property)', () => {
    fc.assert(
      fc.property(anyKey(), anyKey(), (a, b) => {
        const ea = encodeKeyPart(a)
        assert.match(ea, /^[A-Za-z0-9_.%-]*$/)
        assert.equal(decodeKeyPart(ea), a)
        if (a !== b) assert.notEqual(ea, encodeKeyPart(b))
      }),
      { numRuns: 3000 },
    )
  })
})

describe('TenantCache (in-memory store)', () => {
  it('needs a tenant in context', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    await assert.rejects(cache.get('k'), (e: unknown) => isTenantryError(e, 'TENANT_CONTEXT_MISSING'))
    await assert.rejects(cache.set('k', 1), (e: unknown) => isTenantryError(e, 'TENANT_CONTEXT_MISSING'))
    await assert.rejects(cache.wrap('k', 1000, () => 1), (e: unknown) => isTenantryError(e, 'TENANT_CONTEXT_MISSING'))
  })

  it('gets, sets and deletes the current tenant\'s entries, never another tenant\'s', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    await asAcme(() => cache.set('project:1', { name: 'Acme launch' }))
    assert.deepEqual(await asAcme(() => cache.get('project:1')), { name: 'Acme launch' })
    assert.equal(await asGlobex(() => cache.get('project:1')), undefined)
    await asGlobex(() => cache.set('project:1', { name: 'Globex' }))
    assert.deepEqual(await asAcme(() => cache.get('project:1')), { name: 'Acme launch' })
    await asAcme(() => cache.delete('project:1'))
    assert.equal(await asAcme(() => cache.get('project:1')), undefined)
    assert.deepEqual(await asGlobex(() => cache.get('project:1')), { name: 'Globex' })
  })

  it('hands back a copy, not the cached object', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    const value = { n: 1 }
    await asAcme(() => cache.set('v', value))
    value.n = 2
    const read = await asAcme(() => cache.get<{ n: number }>('v'))
    assert.equal(read?.n, 1)
  })

  it('flushes one tenant in O(1) and leaves the others', async () => {
    const store = new MemoryCacheStore({ sweepIntervalMs: 0 })
    const cache = new TenantCache({ store })
    for (let i = 0; i < 20; i++) {
      await asAcme(() => cache.set(`k${i}`, i))
      await asGlobex(() => cache.set(`k${i}`, -i))
    }
    await asAcme(() => cache.flush())
    assert.equal(await asAcme(() => cache.get('k3')), undefined)
    assert.equal(await asGlobex(() => cache.get('k3')), -3)
    assert.equal(store.size.entries, 40, 'flush touched no entry')
    store.sweep()
    assert.equal(store.size.entries, 20, 'the sweep dropped the flushed generation')
    await asAcme(() => cache.set('k3', 'again'))
    assert.equal(await asAcme(() => cache.get('k3')), 'again')
  })

  it('expires entries after their TTL', async () => {
    let now = 1_000_000
    const cache = new TenantCache({ store: new MemoryCacheStore({ now: () => now }) })
    await asAcme(() => cache.set('short', 1, 100))
    now += 99
    assert.equal(await asAcme(() => cache.get('short')), 1)
    now += 2
    assert.equal(await asAcme(() => cache.get('short')), undefined)
  })

  it('wrap runs one loader for concurrent callers of one tenant and key, and a separate one per tenant', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    let loads = 0
    const loader = async (): Promise<string> => {
      const n = ++loads
      await new Promise((r) => setTimeout(r, 20))
      return `loaded ${n}`
    }
    const acmes = await asAcme(() => Promise.all(Array.from({ length: 10 }, () => cache.wrap('stats', 10_000, loader))))
    assert.equal(loads, 1)
    assert.ok(acmes.every((v) => v === 'loaded 1'))
    const [a, g] = await Promise.all([asAcme(() => cache.wrap('fresh', 10_000, loader)), asGlobex(() => cache.wrap('fresh', 10_000, loader))])
    assert.equal(loads, 3)
    assert.notEqual(a, g)
    assert.equal(await asAcme(() => cache.wrap('stats', 10_000, loader)), 'loaded 1', 'the loaded value was cached')
  })

  it('wrap caches neither a loader error nor undefined', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    await assert.rejects(asAcme(() => cache.wrap('x', 1000, () => Promise.reject(new Error('db down')))), /db down/)
    assert.equal(await asAcme(() => cache.wrap('x', 1000, () => 'ok')), 'ok')
    assert.equal(await asAcme(() => cache.wrap('u', 1000, () => undefined)), undefined)
    assert.equal(await asAcme(() => cache.wrap('u', 1000, () => 'now')), 'now')
  })

  it('drops a value loaded across a flush instead of caching it in the new generation', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const loading = asAcme(() => cache.wrap('report', 10_000, async () => (await gate, 'stale')))
    await new Promise((r) => setImmediate(r))
    await asAcme(() => cache.flush())
    release()
    assert.equal(await loading, 'stale')
    assert.equal(await asAcme(() => cache.get('report')), undefined)
    assert.equal(cache.stats().staleWritesDropped, 1)
  })

  it('is bounded by entries and by bytes', async () => {
    const byCount = new MemoryCacheStore({ maxEntries: 10 })
    const c1 = new TenantCache({ store: byCount })
    for (let i = 0; i < 50; i++) await asAcme(() => c1.set(`k${i}`, i))
    assert.equal(byCount.size.entries, 10)
    const bySize = new MemoryCacheStore({ maxBytes: 10_000, maxEntryBytes: 2_000 })
    const c2 = new TenantCache({ store: bySize })
    for (let i = 0; i < 50; i++) await asAcme(() => c2.set(`k${i}`, 'x'.repeat(1000)))
    assert.ok(bySize.size.bytes <= 10_000, `${bySize.size.bytes} bytes`)
    await asAcme(() => c2.set('huge', 'y'.repeat(5000)))
    assert.equal(await asAcme(() => c2.get('huge')), undefined, 'an entry above maxEntryBytes is not stored')
  })

  it('never lets one tenant read a value another stored, whatever the keys (property)', async () => {
    await fc.assert(
      fc.asyncProperty(anyKey(1), anyKey(1), async (k1, k2) => {
        const cache = new TenantCache({ store: new MemoryCacheStore({ maxEntries: 10, sweepIntervalMs: 0 }) })
        await asAcme(() => cache.set(k1, 'acme'))
        assert.equal(await asGlobex(() => cache.get(k2)), undefined)
        assert.equal(await asAcme(() => cache.get(k2)), k1 === k2 ? 'acme' : undefined)
      }),
      { numRuns: 300 },
    )
  })

  it('falls through to the loader when the store fails, warning once', async () => {
    const logger = recordingLogger()
    const store = brokenStore()
    const cache = new TenantCache({ store, logger, cooldownMs: 60_000 })
    assert.equal(await asAcme(() => cache.get('k')), undefined)
    await asAcme(() => cache.set('k', 1))
    for (let i = 0; i < 20; i++) assert.equal(await asAcme(() => cache.wrap('k', 1000, () => 'from source')), 'from source')
    assert.equal(logger.lines.length, 1, logger.lines.join('\n'))
    assert.equal(store.calls, 1, 'the store is skipped during the cooldown')
    assert.equal(cache.stats().loads, 20)
  })

  it('treats a slow store as failed', async () => {
    const never = new Promise<never>(() => {})
    const slow: CacheStore = { read: () => never, write: () => never, delete: () => never, flush: () => never }
    const cache = new TenantCache({ store: slow, timeoutMs: 20 })
    assert.equal(await asAcme(() => cache.wrap('k', 1000, () => 'source')), 'source')
    assert.equal(cache.stats().store.timeouts, 1)
  })

  it('after a failed delete, bypasses the tenant\'s entries until its flush has been redone', async () => {
    const inner = new MemoryCacheStore()
    let failDeletes = true
    const store: CacheStore = {
      read: (t, k) => inner.read(t, k),
      write: (t, k, v, ttl, g) => inner.write(t, k, v, ttl, g),
      delete: (t, k) => (failDeletes ? Promise.reject(new Error('READONLY')) : inner.delete(t, k)),
      flush: (t) => inner.flush(t),
    }
    const cache = new TenantCache({ store, cooldownMs: 0 })
    await asAcme(() => cache.set('project:1', 'old name'))
    await asGlobex(() => cache.set('project:1', 'globex'))
    await asAcme(() => cache.delete('project:1'))
    assert.equal(cache.stats().pendingInvalidations, 1)
    assert.equal(await asAcme(() => cache.get('project:1')), undefined, 'the stale entry is not served')
    await new Promise((r) => setTimeout(r, 10))
    assert.equal(cache.stats().pendingInvalidations, 0, 'the flush was redone')
    assert.equal(await asAcme(() => cache.get('project:1')), undefined)
    assert.equal(await asGlobex(() => cache.get('project:1')), 'globex', 'other tenants kept their entries')
    failDeletes = false
  })

  it('refuses bad keys, TTLs and options', async () => {
    const cache = new TenantCache({ store: new MemoryCacheStore() })
    await assert.rejects(asAcme(() => cache.get('')), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    await assert.rejects(asAcme(() => cache.set('k', 1, 0)), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    await assert.rejects(asAcme(() => cache.set('k', undefined)), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => new TenantCache({ store: {} as CacheStore, ttlMs: -1 }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
})

function brokenStore(): CacheStore & { calls: number } {
  const fail = (): Promise<never> => {
    store.calls++
    return Promise.reject(new Error('connect ECONNREFUSED'))
  }
  const store = {
    calls: 0,
    read: (): Promise<CacheRead> => fail(),
    write: (): Promise<boolean> => fail(),
    delete: (): Promise<void> => fail(),
    flush: (): Promise<string> => fail(),
  }
  return store
}
