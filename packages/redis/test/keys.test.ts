import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { encodeKeyPart } from '@tenantry/core'
import { RedisCacheStore, RedisRateLimitStore, hashTagOf, tenantKey } from '@tenantry/redis'

/** Strings of any UTF-16 code units, rich in what could break a Redis key. */
const nasty = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.oneof(fc.constantFrom(':', '{', '}', '*', '?', '[', '%', '\u0000', '\ud800', 'c', 'gen', '1'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))),
    minLength,
    maxLength: 24,
  })

// Stores are built on a client that never connects: only the key layout is under test.
const offline = new Redis({ lazyConnect: true })
const cacheStore = new RedisCacheStore({ redis: offline })
const rateStore = new RedisRateLimitStore({ redis: offline })

describe('Redis key layout', () => {
  it('puts the tenant, and only the tenant, in the hash tag (property)', () => {
    fc.assert(
      fc.property(nasty(1), nasty(1), fc.stringMatching(/^[0-9]{1,16}$/), (tenantId, key, generation) => {
        const entry = cacheStore.entryKey(tenantId, generation, encodeKeyPart(key))
        assert.equal(hashTagOf(entry), encodeKeyPart(tenantId))
        assert.equal(hashTagOf(cacheStore.generationKey(tenantId)), encodeKeyPart(tenantId))
        const counter = rateStore.keyOf({ tenantId, bucket: key }, { limit: 1, windowMs: 1000, slots: 10 })
        assert.equal(hashTagOf(counter), encodeKeyPart(tenantId))
      }),
      { numRuns: 1000 },
    )
  })

  it('never gives two (tenant, generation, key) the same entry key, nor an entry the generation key (property)', () => {
    const triple = fc.tuple(nasty(1), fc.stringMatching(/^[0-9]{1,6}$/), nasty(1))
    fc.assert(
      fc.property(triple, triple, ([t1, g1, k1], [t2, g2, k2]) => {
        const e1 = cacheStore.entryKey(t1, g1, encodeKeyPart(k1))
        const e2 = cacheStore.entryKey(t2, g2, encodeKeyPart(k2))
        if (t1 !== t2 || g1 !== g2 || k1 !== k2) assert.notEqual(e1, e2)
        assert.notEqual(e1, cacheStore.generationKey(t2))
        assert.ok(!/[*?[\]\s]/.test(e1.slice(e1.indexOf('}'))), 'no glob character or whitespace after the tag')
      }),
      { numRuns: 2000 },
    )
  })

  it('writes a UUID tenant id as is', () => {
    assert.equal(tenantKey('3ecc5e81-e3ac-4b59-bd5d-090df4e65279', 'rl'), 'tenantry:{3ecc5e81-e3ac-4b59-bd5d-090df4e65279}:rl')
    assert.equal(tenantKey('a}b{', 'c', 'app:tenantry'), 'app:tenantry:{a%7Db%7B}:c')
  })

  it('refuses a key prefix that would move the hash tag', () => {
    assert.throws(() => new RedisCacheStore({ redis: offline, keyPrefix: 'x{y}' }), /VALIDATION|must be/)
  })
})
