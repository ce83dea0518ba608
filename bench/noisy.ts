/**
 * `noisy` (issue #6, item 7): one tenant floods the reference SaaS while 19
 * others send a steady rate. The SaaS runs with a per-tenant rate limit and
 * bulkhead (tenantAdmission; the Redis store when TENANTRY_REDIS_URL is set).
 *
 * Rounds alternate two phases of the same length: the quiet tenants alone,
 * and the quiet tenants with the noisy one sending 20x its limit. Figures:
 * the quiet tenants' p99 with the flood against their p99 without it (goal:
 * within 1.2x, ratio >= 0.833), and the noisy tenant's admitted rate against
 * its limit (goal: never above it; ratio = limit / admitted >= 0.95 allows
 * for the window edges of a timed run).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryRateLimitStore, RateLimiter, TenantBulkhead, runWithTenant, tenantAdmission, type RateLimitStore } from '@tenantry/core'
import { RedisRateLimitStore, connectRedis } from '@tenantry/redis'
import { createLogger, createSaas } from '@tenantry/saas'
import type { BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure } from './harness/figures.ts'
import { benchDatabaseUrl } from './http/setup.ts'
import { sendTraffic, type TrafficJob, type TrafficResult } from './noisy/traffic.ts'

const TENANTS = 20
/** Every tenant's limit: LIMIT requests per WINDOW_MS. */
const LIMIT = Number(process.env.TENANTRY_NOISY_LIMIT ?? 50)
const WINDOW_MS = 1000
/** Each quiet tenant's steady rate (requests/s), a fifth of its limit. */
const QUIET_RATE = LIMIT / 5
const NOISE_FACTOR = 20

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

export const benchmark: Benchmark = {
  name: 'noisy',
  summary: 'the reference SaaS with 20 tenants, one sending 20x its limit: quiet tenants\' p99 with and without it; the noisy tenant\'s admitted rate against its limit',
  defaults: () => ({ rounds: 5, seconds: 5, warmupSeconds: 2, concurrency: 1 }),
  async run(context): Promise<BenchOutcome> {
    const { backend, settings, quick, log } = context
    const redisUrl = process.env.TENANTRY_REDIS_URL
    let store: RateLimitStore = new MemoryRateLimitStore()
    if (redisUrl) {
      const redis = await connectRedis({ url: redisUrl })
      backend.atClose(async () => { redis.disconnect() })
      store = new RedisRateLimitStore({ redis, keyPrefix: backend.uniqueName('tenantry_noisy') })
    }
    const admission = tenantAdmission({
      limiter: new RateLimiter({ store, plans: { free: { limit: LIMIT, windowMs: WINDOW_MS } }, defaultPlan: 'free' }),
      bulkhead: new TenantBulkhead({ maxConcurrent: 4, maxQueue: 8, queueTimeoutMs: 1000 }),
    })
    const dataDir = await mkdtemp(join(tmpdir(), 'tenantry-bench-noisy-'))
    backend.atClose(() => rm(dataDir, { recursive: true, force: true }))
    const runtimeRole = backend.uniqueName('tenantry_bench_noisy')
    backend.dropRoleAtClose(runtimeRole)
    const saas = await createSaas({
      config: { databaseUrl: backend.name === 'postgres' ? await benchDatabaseUrl(context) : undefined, dataDir, baseDomain: 'localhost', logLevel: 'warn' },
      adminToken: `bench-${backend.uniqueName('token')}`,
      logger: createLogger({ level: 'warn' }),
      runtimeRole,
      admission,
    })
    backend.atClose(async () => {
      const { items } = await saas.tenantry.catalog.list({ limit: 500 })
      for (const tenant of items) if (tenant.isolation === 'database') await saas.tenantry.tenants.offboard(tenant.id).catch(() => undefined)
      await saas.close()
    })
    await saas.app.listen({ host: '127.0.0.1', port: 0 })
    const port = (saas.app.server.address() as AddressInfo).port
    log(`SaaS up on ${saas.tenantry.describe}, rate limit store: ${redisUrl ? 'Redis' : 'memory'}`)

    // The three demo tenants (one per model) and 17 more in the shared model.
    for (let i = 3; i < TENANTS; i++) await saas.tenantry.tenants.create({ slug: `tenant-${String(i).padStart(2, '0')}`, name: `Tenant ${i}` })
    const { items } = await saas.tenantry.catalog.list({ limit: 100 })
    const requests: { slug: string; isolation: string; host: string; authorization: string; path: string }[] = []
    for (const tenant of items) {
      const ids = await runWithTenant(tenant, async () => {
        const rows = Array.from({ length: 20 }, (_, i) => ({ name: `${tenant.slug} project ${i}` }))
        return (await saas.tenantry.db.insertInto('projects').values(rows).returning('id').execute()).map((r) => r.id)
      })
      const { key } = await saas.tenantry.catalog.createApiKey(tenant.id, { name: 'bench' })
      for (const id of ids.slice(0, 5)) {
        requests.push({ slug: tenant.slug, isolation: tenant.isolation, host: `${tenant.slug}.localhost:${port}`, authorization: `Bearer ${key}`, path: `/api/projects/${id}` })
      }
    }
    const noisySlug = 'acme'
    const quietSlugs = [...new Set(requests.map((r) => r.slug))].filter((slug) => slug !== noisySlug)
    const quietTenants = quietSlugs.length
    const seconds = quick ? 1 : settings.seconds
    const quietJob = (s: number): TrafficJob => ({
      port, seconds: s,
      streams: quietSlugs.map((slug) => ({ rate: QUIET_RATE, connections: 2, requests: requests.filter((r) => r.slug === slug) })),
    })
    const noisyJob = (s: number): TrafficJob => ({
      port, seconds: s,
      streams: [{ rate: (LIMIT * 1000 / WINDOW_MS) * NOISE_FACTOR, connections: 16, requests: requests.filter((r) => r.slug === noisySlug) }],
    })
    const checkQuiet = (result: TrafficResult, phase: string): void => {
      const bad = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'))
      if (bad.length || result.errors || result.timeouts) {
        throw new Error(`${phase}: the quiet tenants got ${JSON.stringify(result.statuses)}, ${result.errors} errors, ${result.timeouts} timeouts`)
      }
    }

    log(`warm-up ${settings.warmupSeconds} s`)
    await Promise.all([sendTraffic(quietJob(settings.warmupSeconds)), sendTraffic(noisyJob(settings.warmupSeconds))])
    const alone: number[] = []
    const withNoise: number[] = []
    const admitted: number[] = []
    const refused: number[] = []
    const aloneP50: number[] = []
    const noiseP50: number[] = []
    const rounds = quick ? 2 : settings.rounds
    for (let round = 0; round < rounds; round++) {
      const phases = round % 2 === 0 ? ['alone', 'noisy'] : ['noisy', 'alone']
      for (const phase of phases) {
        if (phase === 'alone') {
          const quiet = await sendTraffic(quietJob(seconds))
          checkQuiet(quiet, 'alone')
          alone.push(quiet.p99Ms)
          aloneP50.push(quiet.p50Ms)
        } else {
          const [quiet, noisy] = await Promise.all([sendTraffic(quietJob(seconds)), sendTraffic(noisyJob(seconds))])
          checkQuiet(quiet, 'with the noisy tenant')
          withNoise.push(quiet.p99Ms)
          noiseP50.push(quiet.p50Ms)
          admitted.push(noisy.ok / noisy.seconds)
          refused.push((noisy.statuses['429'] ?? 0) / noisy.seconds)
        }
      }
      log(`round ${round + 1}: quiet p50/p99 alone ${aloneP50.at(-1)?.toFixed(2)}/${alone.at(-1)?.toFixed(2)} ms, with noise ${noiseP50.at(-1)?.toFixed(2)}/${withNoise.at(-1)?.toFixed(2)} ms; noisy admitted ${admitted.at(-1)?.toFixed(1)}/s, refused ${refused.at(-1)?.toFixed(0)}/s`)
    }
    const limitRate = (LIMIT * 1000) / WINDOW_MS
    return {
      figures: [
        figure({ metric: 'quiet_tenants_p99_with_noisy', value: median(withNoise), unit: 'ms', baseline: median(alone), better: 'lower', goal: 0.833, digits: 2 }),
        figure({ metric: 'noisy_tenant_admitted_rate', value: median(admitted), unit: 'req/s', baseline: limitRate, better: 'lower', goal: 0.95, digits: 1 }),
        figure({ metric: 'noisy_tenant_refused_rate', value: median(refused), unit: 'req/s', better: 'higher', digits: 0 }),
      ],
      notes: [
        `The reference SaaS (createSaas, ${saas.tenantry.describe}) with ${TENANTS} tenants: acme (shared, the noisy one), globex (schema), initech (database) and ${TENANTS - 3} more shared tenants; \`GET /api/projects/:id\` with each tenant's own API key and Host.`,
        `Admission: a sliding-window limit of ${LIMIT} requests per ${WINDOW_MS} ms per tenant (${redisUrl ? 'Redis store' : 'in-memory store'}) and a bulkhead of 4 in flight + 8 queued per tenant.`,
        `Quiet tenants: ${quietTenants} steady streams of ${QUIET_RATE} req/s (evenly spaced, random phase, open loop, keep-alive) from a worker thread; the noisy tenant: ${limitRate * NOISE_FACTOR} req/s (${NOISE_FACTOR}x its limit) from another.`,
        `${rounds} rounds of ${seconds} s per phase, phases alternating which goes first; medians. Quiet p99 alone: ${alone.map((v) => v.toFixed(2)).join(', ')} ms; with the noisy tenant: ${withNoise.map((v) => v.toFixed(2)).join(', ')} ms. Noisy admitted: ${admitted.map((v) => v.toFixed(1)).join(', ')} req/s; refused with 429: ${refused.map((v) => v.toFixed(0)).join(', ')} req/s. Every quiet request got a 2xx answer.`,
        'The server, the two load generators and the database share the machine\'s 2 cores (and other work): the refused requests still cost the server CPU (resolve, authenticate, one limiter check), which is what the quiet tenants feel.',
      ],
    }
  },
}
