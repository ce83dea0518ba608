import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { MemoryRateLimitStore, RateLimiter, slotLength, type RateLimitStore, type SlidingWindow } from '@tenantry/core'
import { RedisRateLimitStore, hashTagOf } from '@tenantry/redis'
import { storeTargets, testTenantId, type OpenTarget } from '@tenantry/test-kit'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const worker = fileURLToPath(new URL('./fixtures/ratelimit-worker.ts', import.meta.url))

for (const target of storeTargets()) {
  describe(`rate-limit store: ${target.name}`, () => {
    let open: OpenTarget
    let store: RateLimitStore
    const tenants: string[] = []
    const tenant = (): string => {
      const id = testTenantId()
      tenants.push(id)
      return id
    }

    before(async () => {
      open = await target.open()
      store = open.client ? new RedisRateLimitStore({ redis: open.client }) : new MemoryRateLimitStore()
    })
    after(() => open?.close(tenants))

    it('allows the limit in a window, then refuses with a retry time within the window', async () => {
      const id = tenant()
      const window: SlidingWindow = { limit: 5, windowMs: 2000, slots: 10 }
      const decisions = []
      for (let i = 0; i < 7; i++) decisions.push(await store.consume({ tenantId: id, bucket: 'default' }, window, 1))
      assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, true, true, false, false])
      assert.deepEqual(decisions.map((d) => d.remaining), [4, 3, 2, 1, 0, 0, 0])
      const refused = decisions[5]!
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 2200, `retry after ${refused.retryAfterMs} ms`)
      assert.ok(refused.resetMs > 0 && refused.resetMs <= refused.retryAfterMs)
      assert.ok(Math.abs(refused.at - Date.now()) < 5000, 'the decision carries the store clock in ms')
    })

    it('keeps tenants and buckets apart, and counts a cost', async () => {
      const a = tenant()
      const b = tenant()
      const window: SlidingWindow = { limit: 10, windowMs: 60_000, slots: 10 }
      assert.equal((await store.consume({ tenantId: a, bucket: 'default' }, window, 10)).remaining, 0)
      assert.equal((await store.consume({ tenantId: a, bucket: 'default' }, window, 1)).allowed, false)
      assert.equal((await store.consume({ tenantId: b, bucket: 'default' }, window, 4)).remaining, 6)
      assert.equal((await store.consume({ tenantId: a, bucket: 'exports' }, window, 3)).remaining, 7)
      const tooBig = await store.consume({ tenantId: b, bucket: 'default' }, window, 7)
      assert.equal(tooBig.allowed, false)
      assert.equal(tooBig.remaining, 6, 'a refused cost spends nothing')
    })

    it('frees units once they leave the window', async () => {
      const id = tenant()
      const window: SlidingWindow = { limit: 2, windowMs: 300, slots: 3 }
      await store.consume({ tenantId: id, bucket: 'default' }, window, 2)
      const refused = await store.consume({ tenantId: id, bucket: 'default' }, window, 1)
      assert.equal(refused.allowed, false)
      await new Promise((r) => setTimeout(r, refused.retryAfterMs + 20))
      assert.equal((await store.consume({ tenantId: id, bucket: 'default' }, window, 1)).allowed, true)
    })

    it('sends the headers through the RateLimiter', async () => {
      const limiter = new RateLimiter({ store, plans: { default: { limit: 2, windowMs: 60_000 } } })
      const t = { id: tenant() }
      const first = await limiter.check(t)
      assert.equal(first.headers['RateLimit-Policy'], '"default";q=2;w=60')
      assert.match(first.headers.RateLimit as string, /^"default";r=1;t=\d+$/)
      await limiter.check(t)
      const third = await limiter.check(t)
      assert.equal(third.allowed, false)
      assert.ok(Number(third.headers['Retry-After']) >= 1)
      assert.equal(limiter.stats().store.errors, 0)
    })

    it('refuses a tenant over its limit from the local deny list until the store\'s retry time, asking the store once', async () => {
      let calls = 0
      const counting: RateLimitStore = { consume: (t, w, c) => { calls++; return store.consume(t, w, c) } }
      const limiter = new RateLimiter({ store: counting, plans: { default: { limit: 1, windowMs: 400 } } })
      const t = { id: tenant() }
      assert.equal((await limiter.check(t)).allowed, true)
      const refused = await limiter.check(t)
      assert.equal(refused.allowed, false)
      for (let i = 0; i < 10; i++) assert.equal((await limiter.check(t)).allowed, false)
      assert.equal(calls, 2)
      assert.equal(limiter.stats().refusedLocally, 10)
      await new Promise((r) => setTimeout(r, refused.retryAfterMs + 30))
      assert.equal((await limiter.check(t)).allowed, true)
      assert.equal(calls, 3)
    })

    if (target.name !== 'memory') {
      it('decides exactly as the JavaScript sliding window, step by step, on a replayed clock (property)', async () => {
        const script = RedisRateLimitStore.script
        const client = open.client!
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 12 }),
            fc.integer({ min: 5, max: 3000 }),
            fc.integer({ min: 1, max: 12 }),
            fc.array(fc.record({ gap: fc.integer({ min: 0, max: 700 }), cost: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 40 }),
            async (limit, windowMs, slots, requests) => {
              const id = tenant()
              let now = 1_700_000_000_000
              const memory = new MemoryRateLimitStore({ now: () => now, maxKeys: 10, sweepIntervalMs: 0 })
              const window: SlidingWindow = { limit, windowMs, slots }
              const key = (store as RedisRateLimitStore).keyOf({ tenantId: id, bucket: 'default' }, window)
              try {
                for (const { gap, cost } of requests) {
                  now += gap
                  const expected = memory.consumeNow({ tenantId: id, bucket: 'default' }, window, cost)
                  const reply = (await script.run(client, [key], [limit, slotLength(window), slots, cost, now])) as number[]
                  assert.deepEqual(
                    { allowed: reply[0] === 1, remaining: reply[1], resetMs: reply[2], retryAfterMs: reply[3], at: reply[4] },
                    { allowed: expected.allowed, remaining: expected.remaining, resetMs: expected.resetMs, retryAfterMs: expected.retryAfterMs, at: now },
                  )
                }
              } finally {
                await client.del(key)
              }
            },
          ),
          { numRuns: 40 },
        )
      })

      it('keeps a counter under the tenant\'s hash tag, expiring with its window', async () => {
        const id = tenant()
        const redisStore = store as RedisRateLimitStore
        const window: SlidingWindow = { limit: 3, windowMs: 5000, slots: 10 }
        await redisStore.consume({ tenantId: id, bucket: 'a:b{c}*' }, window, 1)
        const key = redisStore.keyOf({ tenantId: id, bucket: 'a:b{c}*' }, window)
        assert.equal(key, `tenantry:{${id}}:rl:a%3Ab%7Bc%7D%2A:5000:10`)
        assert.equal(hashTagOf(key), id)
        const client = open.client!
        const ttl = await client.pttl(key)
        assert.ok(ttl > 0 && ttl <= 5500, `pttl ${ttl}`)
      })

      it('three processes sharing one Redis admit no more than the limit in any window', async (t) => {
        const id = tenant()
        const limit = 40
        const windowMs = 1000
        const env: Record<string, string> = { LIMIT: String(limit), WINDOW_MS: String(windowMs), TENANT_ID: id, DURATION_MS: '2000' }
        const address = open.address!
        if ('cluster' in address) env.CLUSTER_NODES = address.cluster.join(',')
        else env.REDIS_URL = address.url
        const results = await runWorkers(3, env)
        const admitted = results.flatMap((r) => r.admitted).sort((x, y) => x - y)
        const refused = results.reduce((s, r) => s + r.refused, 0)
        assert.equal(results.reduce((s, r) => s + r.degraded, 0), 0, 'every check reached Redis')
        assert.ok(results.every((r) => r.admitted.length > 0), 'each process was admitted some of the time')
        assert.ok(refused > 0, 'the processes pushed past the limit')
        assert.ok(admitted.length >= limit, `at least one full window was used (${admitted.length})`)
        // Every admitted check, with those admitted in the window of windowMs ending at it.
        let from = 0
        let worst = 0
        for (let i = 0; i < admitted.length; i++) {
          while ((admitted[from] as number) <= (admitted[i] as number) - windowMs) from++
          worst = Math.max(worst, i - from + 1)
        }
        t.diagnostic(`${admitted.length} admitted, ${refused} refused over 2 s; at most ${worst} in any ${windowMs} ms (limit ${limit})`)
        assert.ok(worst <= limit, `${worst} admitted within ${windowMs} ms (limit ${limit}, documented bound: +0)`)
      })
    }
  })
}

interface WorkerResult {
  admitted: number[]
  refused: number
  degraded: number
}

/** Starts `n` worker processes, waits until all are connected, starts them together, collects their results. */
async function runWorkers(n: number, env: Record<string, string>): Promise<WorkerResult[]> {
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, ['--conditions=tenantry-source', '--import', 'tsx', worker], { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }),
  )
  try {
    const outputs = children.map((child) => {
      const lines: string[] = []
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const reader = createInterface({ input: child.stdout })
      const ready = new Promise<void>((resolve, reject) => {
        reader.on('line', (line) => {
          if (line === 'ready') resolve()
          else lines.push(line)
        })
        child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)))
      })
      const done = new Promise<WorkerResult>((resolve, reject) => {
        child.once('exit', (code) => {
          if (code !== 0 || lines.length === 0) reject(new Error(`worker exited with ${code}: ${stderr}`))
          else resolve(JSON.parse(lines[lines.length - 1] as string) as WorkerResult)
        })
      })
      done.catch(() => {})
      return { ready, done }
    })
    await Promise.all(outputs.map((o) => o.ready))
    for (const child of children) child.stdin.write('go\n')
    return await Promise.all(outputs.map((o) => o.done))
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
}
