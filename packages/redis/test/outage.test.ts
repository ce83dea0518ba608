import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RateLimiter, TenantCache, isTenantryError, runWithTenant, type FairShareLogger } from '@tenantry/core'
import { RedisCacheStore, RedisRateLimitStore, connectRedis, type RedisClient } from '@tenantry/redis'
import { commandOnPath, startThrowawayRedis, testTenantId, waitFor, type ThrowawayRedis } from '@tenantry/test-kit'

function recordingLogger(): FairShareLogger & { lines: string[] } {
  const lines: string[] = []
  return { lines, warn: (_details, message) => void lines.push(message) }
}

const plans = { default: { limit: 1000, windowMs: 60_000 } }
const tenant = (): { id: string; slug: string; status: 'active' } => ({ id: testTenantId(), slug: 'outage', status: 'active' })

describe('Redis down or slow', { skip: commandOnPath('redis-server') ? false : 'redis-server is not on PATH' }, () => {
  let server: ThrowawayRedis
  let redis: RedisClient

  before(async () => {
    server = await startThrowawayRedis()
    redis = await connectRedis({ url: server.url, commandTimeoutMs: 500 })
  })
  after(async () => {
    redis?.disconnect()
    await server?.stop()
  })

  /** Brings the server back (if killed) and waits until `redis` works again. */
  async function healthy(): Promise<void> {
    server.resume()
    await server.restart()
    await waitFor(() => redis.ping().then((p) => p === 'PONG'), 10_000, 'the client did not reconnect')
  }

  it('fails clearly at start when Redis cannot be reached', async () => {
    await assert.rejects(connectRedis({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 }), (e: unknown) =>
      isTenantryError(e, 'INTERNAL') && /Cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/.test(e.message),
    )
  })

  it('reloads the script once after the server lost it (NOSCRIPT)', async () => {
    const store = new RedisRateLimitStore({ redis })
    const target = { tenantId: testTenantId(), bucket: 'default' }
    const window = { limit: 5, windowMs: 10_000, slots: 10 }
    await store.consume(target, window, 1)
    const before = RedisRateLimitStore.script.reloads
    await redis.script('FLUSH')
    assert.equal((await store.consume(target, window, 1)).remaining, 3)
    assert.equal(RedisRateLimitStore.script.reloads, before + 1)
    assert.equal((await store.consume(target, window, 1)).remaining, 2)
    assert.equal(RedisRateLimitStore.script.reloads, before + 1, 'EVALSHA works again after the reload')
  })

  it('limiter: fails open while Redis is killed mid-run, with bounded warnings and a counter, then recovers', async () => {
    const logger = recordingLogger()
    const limiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans, logger, timeoutMs: 200, cooldownMs: 200 })
    const t = { id: testTenantId() }
    let killed = false
    let errors = 0
    const results: { degraded: boolean; allowed: boolean }[] = []
    async function caller(): Promise<void> {
      for (let i = 0; i < 60; i++) {
        if (results.length === 100 && !killed) {
          killed = true
          await server.kill()
        }
        try {
          results.push(await limiter.check(t))
        } catch {
          errors++
        }
      }
    }
    await Promise.all([caller(), caller(), caller(), caller(), caller()])
    assert.equal(errors, 0, 'no check threw')
    assert.ok(results.every((r) => r.allowed), 'every check was admitted (fail open)')
    const degraded = results.filter((r) => r.degraded).length
    assert.ok(degraded >= 150, `${degraded} checks decided without Redis`)
    assert.equal(limiter.stats().failedOpen, degraded)
    assert.ok(limiter.stats().store.skipped > 0, 'checks skipped Redis during the cooldown')
    assert.ok(logger.lines.length <= 2, `no storm of warnings: ${logger.lines.join(' | ')}`)

    await server.restart()
    await waitFor(async () => !(await limiter.check(t)).degraded, 10_000, 'the limiter did not use Redis again')
    assert.ok(logger.lines.some((l) => /recovered/.test(l)), 'the recovery is logged')
  })

  it('limiter: fails closed when configured', async () => {
    await healthy()
    const limiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans, onStoreError: 'closed', timeoutMs: 200, cooldownMs: 200 })
    const t = { id: testTenantId() }
    assert.equal((await limiter.check(t)).degraded, false)
    await server.kill()
    await assert.rejects(limiter.consume(t), (e: unknown) => isTenantryError(e, 'RATE_LIMITED') && e.headers['Retry-After'] === '1')
    assert.equal(limiter.stats().failedClosed, 1)
    await server.restart()
  })

  it('limiter: treats a frozen (slow) Redis as down after timeoutMs, and recovers when it answers again', async () => {
    await healthy()
    const limiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans, timeoutMs: 100, cooldownMs: 100 })
    const t = { id: testTenantId() }
    assert.equal((await limiter.check(t)).degraded, false)
    server.pause()
    try {
      const during = await Promise.all(Array.from({ length: 20 }, () => limiter.check(t)))
      assert.ok(during.every((r) => r.allowed && r.degraded))
      assert.ok(limiter.stats().store.timeouts >= 1)
    } finally {
      server.resume()
    }
    await waitFor(async () => !(await limiter.check(t)).degraded, 10_000, 'the limiter did not use Redis again')
  })

  it('cache: falls through to the source while Redis is down, never serving another tenant\'s value', async () => {
    await healthy()
    const logger = recordingLogger()
    const cache = new TenantCache({ store: new RedisCacheStore({ redis }), logger, timeoutMs: 200, cooldownMs: 200 })
    const [a, b] = [tenant(), tenant()]
    await runWithTenant(a, () => cache.set('profile', 'A cached'))
    await runWithTenant(b, () => cache.set('profile', 'B cached'))
    await server.kill()
    const reads = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const t = i % 2 === 0 ? a : b
        return runWithTenant(t, () => cache.wrap('profile', 10_000, async () => `${t.id === a.id ? 'A' : 'B'} from source`))
      }),
    )
    reads.forEach((value, i) => assert.equal(value, i % 2 === 0 ? 'A from source' : 'B from source'))
    assert.equal(await runWithTenant(a, () => cache.get('profile')), undefined)
    await runWithTenant(a, () => cache.set('profile', 'ignored'))
    assert.ok(logger.lines.length <= 2, `no storm of warnings: ${logger.lines.join(' | ')}`)
    await server.restart()
  })

  it('cache: a delete lost while Redis froze is redone as a flush before the stale entry can be served', async () => {
    await healthy()
    const cache = new TenantCache({ store: new RedisCacheStore({ redis }), timeoutMs: 100, cooldownMs: 100 })
    const a = tenant()
    await runWithTenant(a, () => cache.set('project:1', 'old name'))
    server.pause()
    try {
      await runWithTenant(a, () => cache.delete('project:1'))
    } finally {
      server.resume()
    }
    assert.equal(cache.stats().pendingInvalidations, 1)
    assert.equal(await runWithTenant(a, () => cache.get('project:1')), undefined, 'the stale entry is not served')
    await waitFor(async () => {
      await runWithTenant(a, () => cache.get('project:1'))
      return cache.stats().pendingInvalidations === 0
    }, 10_000, 'the flush was not redone')
    assert.equal(await runWithTenant(a, () => cache.get('project:1')), undefined, 'the entry is gone for good')
  })
})
