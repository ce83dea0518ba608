/**
 * `ratelimit` (issue #6, item 7): what a rate-limit check costs.
 *
 * Four Redis variants over one shared ioredis connection, driven by the same
 * number of concurrent clients in the same interleaved rounds, each client
 * picking its tenant from a pool of 100:
 *
 * - tenantry_redis: `RateLimiter.check()` on `RedisRateLimitStore` (the
 *   sliding-window Lua script by EVALSHA, one round trip), plans, headers, guard;
 * - raw_evalsha (baseline): EVALSHA of a trivial script (`return 1`) with one key,
 *   sent straight through ioredis: the floor for any one-round-trip limiter;
 * - rlf_redis (baseline): rate-limiter-flexible's `RateLimiterRedis.consume()`
 *   on the same connection, same limit and window (a fixed window, one EVALSHA);
 *
 * - tenantry_redis_refused: the same limiter for tenants over their limit (1 per
 *   10 minutes): after each tenant's first check, every check is refused from the
 *   local deny list without a Redis round trip; its CPU is held against an
 *   admitted check's (tenantry_redis);
 *
 * and in memory: `RateLimiter.check()` on `MemoryRateLimitStore` against a bare
 * `Map` counter (`map.set(k, (map.get(k) ?? 0) + 1)`).
 *
 * The limit (1,000,000 per 60 s) is high enough that every check is admitted:
 * the write path is measured, the same for every variant.
 */
import { randomBytes } from 'node:crypto'
import { MemoryRateLimitStore, RateLimiter } from '@tenantry/core'
import { connectRedis, RedisRateLimitStore, type RedisClient } from '@tenantry/redis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import type { BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { drive, measureInRounds, summarize, type RoundSample, type Variant } from './harness/rounds.ts'
import { openBenchRedis } from './ratelimit/redis-server.ts'

const LIMIT = 1_000_000
const WINDOW_MS = 60_000
const TENANTS = 100
/**
 * Clients when the harness says 1 (it forces 1 on PGlite, a database setting
 * this benchmark has no use for); 8, like the other benchmarks.
 */
const DEFAULT_CLIENTS = 8

type Name = 'tenantry_redis' | 'tenantry_redis_refused' | 'raw_evalsha' | 'rlf_redis' | 'tenantry_memory' | 'bare_map'

export const benchmark: Benchmark = {
  name: 'ratelimit',
  summary: 'Redis limiter checks/s and p99 against raw EVALSHA and rate-limiter-flexible; in-memory limiter against a bare Map',
  defaults: () => ({ rounds: 7, seconds: 2, warmupSeconds: 1, concurrency: DEFAULT_CLIENTS }),
  async run({ settings, log, quick }): Promise<BenchOutcome> {
    const clients = settings.concurrency > 1 ? settings.concurrency : DEFAULT_CLIENTS
    const runSettings = { ...settings, concurrency: clients }
    const server = await openBenchRedis()
    log(server.description)
    const run = randomBytes(4).toString('hex')
    const tenants = Array.from({ length: TENANTS }, (_, i) => ({ id: `bench-${run}-${i}`, plan: 'default' }))
    let redis: RedisClient | undefined
    try {
      redis = await connectRedis({ url: server.url, commandTimeoutMs: 5000 })
      const degraded = { count: 0 }
      const variants = makeVariants(redis, tenants, run, degraded)
      // Two groups: the in-memory variants run millions of operations a second, and
      // the garbage of their latency samples would land on whichever Redis variant
      // follows them in a shared rotation.
      const isRedis = (v: Variant): boolean => v.name === 'tenantry_redis' || v.name === 'tenantry_redis_refused' || v.name === 'raw_evalsha' || v.name === 'rlf_redis'
      const samples = new Map([
        ...(await measureInRounds(variants.filter(isRedis), runSettings, log, 'ratelimit/redis')),
        ...(await measureInRounds(variants.filter((v) => !isRedis(v)), runSettings, log, 'ratelimit/memory')),
      ])
      const serverCost = await redisCostPerCall(redis, variants, clients, quick ? 0.3 : 1)
      log(`Redis µs per EVALSHA: ${Object.entries(serverCost).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`)
      const s = (name: Name): Omit<RoundSample, 'seconds'> => summarize(samples.get(name) ?? [])
      const ours = s('tenantry_redis')
      const refused = s('tenantry_redis_refused')
      const raw = s('raw_evalsha')
      const rlf = s('rlf_redis')
      const memory = s('tenantry_memory')
      const map = s('bare_map')
      const figures: Figure[] = [
        figure({ metric: 'redis_checks_vs_raw_evalsha', value: ours.opsPerSecond, unit: 'checks/s', baseline: raw.opsPerSecond, better: 'higher', goal: 0.8, digits: 0 }),
        figure({ metric: 'redis_p99_vs_raw_evalsha', value: ours.p99Us, unit: 'µs', baseline: raw.p99Us, better: 'lower', goal: 0.8, digits: 0 }),
        figure({ metric: 'redis_checks_vs_rate_limiter_flexible', value: ours.opsPerSecond, unit: 'checks/s', baseline: rlf.opsPerSecond, better: 'higher', goal: 1.0, digits: 0 }),
        figure({ metric: 'redis_p99_vs_rate_limiter_flexible', value: ours.p99Us, unit: 'µs', baseline: rlf.p99Us, better: 'lower', goal: 1.0, digits: 0 }),
        // A noisy tenant's refused check (the local deny list, no Redis round trip) against an admitted one: goal 0.2x its CPU.
        figure({ metric: 'refused_check_cpu_vs_admitted', value: refused.cpuUsPerOp, unit: 'µs CPU/check', baseline: ours.cpuUsPerOp, better: 'lower', goal: 5, digits: 1 }),
        figure({ metric: 'refused_checks_vs_admitted', value: refused.opsPerSecond, unit: 'checks/s', baseline: ours.opsPerSecond, better: 'higher', digits: 0 }),
        figure({ metric: 'memory_checks_vs_bare_map', value: memory.opsPerSecond, unit: 'checks/s', baseline: map.opsPerSecond, better: 'higher', digits: 0 }),
        figure({ metric: 'memory_p99_vs_bare_map', value: memory.p99Us, unit: 'µs', baseline: map.p99Us, better: 'lower', digits: 1 }),
      ]
      const cpu = (x: Omit<RoundSample, 'seconds'>): string => `${x.cpuUsPerOp.toFixed(1)} µs`
      const perRound = (a: Name, b: Name): string => {
        const xs = samples.get(a) ?? []
        const ys = samples.get(b) ?? []
        return xs.map((x, i) => (x.opsPerSecond / (ys[i]?.opsPerSecond ?? Number.NaN)).toFixed(2)).join(' ')
      }
      const notes = [
        `Redis: ${server.description}. The Database line above is the harness's default backend, which this benchmark does not use.`,
        `The Redis variants and the in-memory ones are measured in two separate sets of interleaved rounds. ${clients} concurrent clients (the Settings line's client count is the harness's database setting, 1 on PGlite, unused here) on one ioredis connection, each checking one of ${TENANTS} tenants in turn; limit ${LIMIT} per ${WINDOW_MS / 1000} s, so every check is admitted and writes.`,
        `Medians over rounds: tenantry_redis ${Math.round(ours.opsPerSecond)} checks/s (p50 ${Math.round(ours.p50Us)} µs, p99 ${Math.round(ours.p99Us)} µs, client CPU ${cpu(ours)}/check); raw_evalsha ${Math.round(raw.opsPerSecond)}/s (p99 ${Math.round(raw.p99Us)} µs, ${cpu(raw)}); rlf_redis ${Math.round(rlf.opsPerSecond)}/s (p99 ${Math.round(rlf.p99Us)} µs, ${cpu(rlf)}); tenantry_memory ${Math.round(memory.opsPerSecond)}/s (${cpu(memory)}); bare_map ${Math.round(map.opsPerSecond)}/s (${cpu(map)}).`,
        `tenantry_redis is RateLimiter.check() end to end (policy, the sliding-window script: TIME, HMGET of the running sum, HINCRBY of the slot and of the sum; headers; timeout guard); raw_evalsha runs \`return 1\`; rate-limiter-flexible 5 counts a fixed window (SET NX + INCRBY + PTTL).`,
        `checks/s ratio to raw_evalsha, round by round: ${perRound('tenantry_redis', 'raw_evalsha')}; to rlf_redis: ${perRound('tenantry_redis', 'rlf_redis')}.`,
        `Redis CPU per call (INFO commandstats, EVALSHA usec/calls over a separate ${quick ? 0.3 : 1} s run of each variant; other clients of a shared Redis would count too): ${Object.entries(serverCost).map(([k, v]) => `${k} ${v.toFixed(1)} µs`).join(', ')}. Redis runs on the same 2 cores as the benchmark, so its cost per check takes throughput from the client too.`,
        `Checks decided without Redis (guard timeout, fail open): ${degraded.count}${degraded.count > 0 ? ' — these inflate tenantry_redis; rerun on a quieter machine' : ''}.`,
        'The machine has 2 cores shared by the benchmark process, Redis and other work: absolute figures are noisy; the ratios compare variants interleaved in the same rounds.',
      ]
      if (quick) notes.push('Quick run: figures are not a measurement.')
      return { figures, notes }
    } finally {
      if (redis) await cleanUp(redis, run).catch((e: unknown) => log(`cleanup failed: ${(e as Error).message}`))
      redis?.disconnect()
      await server.close()
    }
  },
}

function makeVariants(redis: RedisClient, tenants: readonly { id: string; plan: string }[], run: string, degraded: { count: number }): Variant[] {
  const next = new Array<number>(64).fill(0)
  const pick = (client: number): { id: string; plan: string } => {
    const i = (next[client % 64] = ((next[client % 64] ?? 0) + 1) % tenants.length)
    return tenants[(i + client * 7) % tenants.length] as { id: string; plan: string }
  }
  const plans = { default: { limit: LIMIT, windowMs: WINDOW_MS } }
  const limiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans, timeoutMs: 1000 })
  // A tenant over its limit: the first check of each tenant is admitted, every later one refused.
  const refusingLimiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans: { default: { limit: 1, windowMs: 600_000 } }, timeoutMs: 1000 })
  const noisy = tenants.map((t) => ({ ...t, id: `${t.id}-noisy` }))
  const memoryLimiter = new RateLimiter({ store: new MemoryRateLimitStore(), plans })
  const rlf = new RateLimiterRedis({ storeClient: redis, points: LIMIT, duration: WINDOW_MS / 1000, keyPrefix: `rlbench${run}` })
  const rawKeys = tenants.map((t) => `rawbench${run}:{${t.id}}`)
  const map = new Map<string, number>()
  let trips = 0
  const counted = (fn: (client: number) => Promise<unknown>) => async (client: number): Promise<void> => {
    trips++
    await fn(client)
  }
  const trivial = 'return 1'
  let trivialSha: string | undefined
  return [
    {
      name: 'tenantry_redis',
      op: counted(async (client) => {
        const result = await limiter.check(pick(client))
        if (result.degraded) degraded.count++
      }),
      roundTrips: () => trips,
    },
    {
      name: 'tenantry_redis_refused',
      op: counted(async (client) => {
        const result = await refusingLimiter.check(noisy[(next[client % 64] ?? 0) % noisy.length] as { id: string; plan: string })
        next[client % 64] = ((next[client % 64] ?? 0) + 1) % noisy.length
        if (result.degraded) degraded.count++
      }),
      roundTrips: () => trips,
    },
    {
      name: 'raw_evalsha',
      op: counted(async (client) => {
        trivialSha ??= (await redis.script('LOAD', trivial)) as string
        await redis.evalsha(trivialSha, 1, rawKeys[(next[client % 64] ?? 0) % rawKeys.length] as string)
        next[client % 64] = ((next[client % 64] ?? 0) + 1) % rawKeys.length
      }),
      roundTrips: () => trips,
    },
    {
      name: 'rlf_redis',
      op: counted(async (client) => {
        await rlf.consume(pick(client).id)
      }),
      roundTrips: () => trips,
    },
    {
      name: 'tenantry_memory',
      op: async (client) => {
        await memoryLimiter.check(pick(client))
      },
      roundTrips: () => 0,
    },
    {
      name: 'bare_map',
      op: async (client) => {
        const id = pick(client).id
        map.set(id, (map.get(id) ?? 0) + 1)
      },
      roundTrips: () => 0,
    },
  ]
}

/** Redis-side µs per EVALSHA of each Redis variant, from the commandstats delta around a short run. */
async function redisCostPerCall(redis: RedisClient, variants: readonly Variant[], clients: number, seconds: number): Promise<Record<string, number>> {
  const evalsha = async (): Promise<{ calls: number; usec: number }> => {
    const info = await redis.info('commandstats')
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info)
    return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) }
  }
  const out: Record<string, number> = {}
  for (const variant of variants.filter((v) => v.name === 'tenantry_redis' || v.name === 'raw_evalsha' || v.name === 'rlf_redis')) {
    const before = await evalsha()
    await drive(variant, clients, seconds)
    const after = await evalsha()
    out[variant.name] = after.calls > before.calls ? (after.usec - before.usec) / (after.calls - before.calls) : Number.NaN
  }
  return out
}

/** Deletes the run's keys (they expire within a minute anyway). */
async function cleanUp(redis: RedisClient, run: string): Promise<void> {
  for (const pattern of [`tenantry:{bench-${run}-*`, `rlbench${run}*`]) {
    let cursor = '0'
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = nextCursor
      if (keys.length > 0) await Promise.all(keys.map((k) => redis.del(k)))
    } while (cursor !== '0')
  }
}
