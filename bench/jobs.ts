/**
 * `jobs` (issue #15, item 6): background jobs on BullMQ with job tenancy.
 *
 * - Fairness: a quiet tenant adds one job every 20 ms while another tenant has
 *   10,000 jobs queued (`FairShare` on), against the same quiet jobs on an
 *   empty queue, in interleaved rounds: the quiet tenant's p99 latency (added →
 *   handler started). The same flood without fairness (FIFO) is reported too.
 * - Overhead: draining N jobs through `TenantQueue` + `tenantProcessor`
 *   (the tenant recorded, re-read from the catalog, the scope entered, the
 *   payload checked) against a plain `Queue` + `Worker` whose handler enters
 *   the tenant named in its data by hand; both run the same scoped query.
 *
 * The app is created by `createTenantry` on the harness's backend (an
 * embedded PGlite folder, or a database of its own on PostgreSQL); Redis is
 * TENANTRY_REDIS_URL or a throwaway server.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { JobTenancy, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { FairShare, TenantQueue, tenantProcessor } from '@tenantry/bullmq'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { createTenantry, type Tenantry } from 'tenantry'
import type { BenchContext, BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { ownDatabase } from './harness/own-database.ts'
import { figure } from './harness/figures.ts'
import { median, percentile } from './harness/rounds.ts'
import { openBenchRedis } from './ratelimit/redis-server.ts'

const FLOOD = 10_000
const CONCURRENCY = 4
const QUIET_EVERY_MS = 20

/** Milliseconds with sub-millisecond precision, on the clock shared by the adding and the running side (one process). */
const now = (): number => performance.timeOrigin + performance.now()

interface App {
  readonly tenantry: Tenantry
  readonly flood: ScopedTenant
  readonly quiet: ScopedTenant
}

async function openApp(context: BenchContext): Promise<App> {
  const { backend } = context
  const { database, close } = await ownDatabase(backend, 'tenantry_bench_jobs')
  backend.atClose(close)
  const role = backend.uniqueName('tenantry_bench_jobs')
  backend.dropRoleAtClose(role)
  const tenantry = await createTenantry({
    database,
    models: { shared: { tables: ['notes'] } },
    migrations: { tenant: [{ id: '001_notes', up: 'create table notes (tenant_id uuid not null, id serial, body text not null, primary key (tenant_id, id))' }] },
    runtimeRole: role,
    doctor: 'off',
  })
  backend.atClose(() => tenantry.close())
  const flood = await tenantry.tenants.create({ slug: 'flood', name: 'Flood' })
  const quiet = await tenantry.tenants.create({ slug: 'quiet', name: 'Quiet' })
  for (const t of [flood, quiet]) await runWithTenant(t, () => tenantry.db.insertInto('notes' as never).values({ body: 'x' } as never).execute())
  return { tenantry, flood, quiet }
}

/** The job's work, the same in every variant: one scoped query. */
async function work(tenantry: Tenantry): Promise<void> {
  await tenantry.db.selectFrom('notes' as never).select('id' as never).limit(1).execute()
}

export const benchmark: Benchmark = {
  name: 'jobs',
  summary: 'BullMQ jobs: a quiet tenant\'s p99 latency beside 10,000 queued jobs of another tenant (fair) vs alone; job tenancy\'s cost per job vs a plain queue',
  defaults: () => ({ rounds: 5, seconds: 0, warmupSeconds: 0, concurrency: CONCURRENCY }),
  async run(context): Promise<BenchOutcome> {
    const { settings, log, quick } = context
    const server = await openBenchRedis()
    log(server.description)
    const url = new URL(server.url)
    const connection = { host: url.hostname, port: Number(url.port || 6379) }
    const prefix = `tenantry-bench-${Date.now().toString(36)}`
    const redis = new Redis({ ...connection, maxRetriesPerRequest: 1 })
    const closers: (() => Promise<unknown>)[] = []
    try {
      const { tenantry, flood, quiet } = await openApp(context)
      const jobs = new JobTenancy({ tenants: tenantry.catalog })
      const fairness = new FairShare({ redis })
      const flooded = quick ? 500 : FLOOD
      const quietJobs = quick ? 10 : 100
      const drain = quick ? 300 : 3000

      const queues = new Map<string, { queue: TenantQueue<{ at: number }>; raw: Queue }>()
      const started = new Map<string, number[]>()
      function open(name: string, fair: boolean): { queue: TenantQueue<{ at: number }>; raw: Queue } {
        const raw = new Queue(name, { connection, prefix })
        const queue = new TenantQueue<{ at: number }>(raw, jobs, fair ? { fairness } : {})
        const worker = new Worker(name, tenantProcessor<{ at: number }>(jobs, async (data, _job, ctx) => {
          if (ctx.tenant?.id === quiet.id) started.get(name)?.push(now() - data.at)
          await work(tenantry)
        }, fair ? { fairness } : {}), { connection, prefix, concurrency: CONCURRENCY })
        closers.unshift(() => worker.close(), () => raw.obliterate({ force: true }).then(() => raw.close()))
        queues.set(name, { queue, raw })
        return { queue, raw }
      }
      /** The quiet tenant's latencies (ms) for one round of a variant. */
      async function latencyRound(name: string, withFlood: boolean): Promise<number[]> {
        const { queue, raw } = queues.get(name)!
        started.set(name, [])
        if (withFlood) {
          for (let done = 0; done < flooded; done += 1000) {
            await runWithTenant(flood, () => queue.addBulk(Array.from({ length: Math.min(1000, flooded - done) }, () => ({ name: 'work', data: { at: now() } }))))
          }
        }
        for (let i = 0; i < quietJobs; i++) {
          await runWithTenant(quiet, () => queue.add('work', { at: now() }))
          await sleep(QUIET_EVERY_MS)
        }
        const deadline = Date.now() + 120_000
        while (started.get(name)!.length < quietJobs && Date.now() < deadline) await sleep(20)
        // Let the rest drain before the next round.
        while ((await raw.count()) > 0 && Date.now() < deadline) await sleep(50)
        return started.get(name)!
      }
      open('fair', true)
      open('fifo', false)
      open('alone', true)
      const p99 = { fair: [] as number[], fifo: [] as number[], alone: [] as number[] }
      for (let round = 0; round < settings.rounds; round++) {
        const order = round % 2 === 0 ? (['alone', 'fair'] as const) : (['fair', 'alone'] as const)
        for (const name of order) {
          const latencies = (await latencyRound(name, name === 'fair')).sort((a, b) => a - b)
          p99[name].push(percentile(latencies, 0.99))
          log(`round ${round + 1}/${settings.rounds} ${name}: quiet p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms (${latencies.length} jobs)`)
        }
      }
      const fifo = (await latencyRound('fifo', true)).sort((a, b) => a - b)
      p99.fifo.push(percentile(fifo, 0.99))
      log(`fifo (once): quiet p50 ${percentile(fifo, 0.5).toFixed(0)} ms, p99 ${percentile(fifo, 0.99).toFixed(0)} ms`)

      // Overhead: drain `drain` jobs per variant, in rotating order.
      type Variant = 'plain' | 'tenancy' | 'tenancy_catalog'
      const plainTenant: ScopedTenant = { id: quiet.id, slug: quiet.slug, status: 'active', isolation: 'shared' }
      const drained: Record<Variant, number> = { plain: 0, tenancy: 0, tenancy_catalog: 0 }
      const drainers = new Map<Variant, { worker: Worker; add(): Promise<unknown> }>()
      for (const variant of ['plain', 'tenancy', 'tenancy_catalog'] as const) {
        const raw = new Queue(variant, { connection, prefix })
        let worker: Worker
        let add: () => Promise<unknown>
        if (variant === 'plain') {
          worker = new Worker(variant, async (job) => {
            await runWithTenant((job.data as { tenant: ScopedTenant }).tenant, () => work(tenantry))
            drained.plain++
          }, { connection, prefix, concurrency: CONCURRENCY })
          add = () => raw.addBulk(Array.from({ length: drain }, () => ({ name: 'work', data: { tenant: plainTenant } })))
        } else {
          // tenancy: the tenant re-read through tenantry.directory (cached, invalidated on every catalog change);
          // tenancy_catalog: read from the catalog's table for every job.
          const tenancy = new JobTenancy({ tenants: variant === 'tenancy' ? tenantry.directory : tenantry.catalog })
          const queue = new TenantQueue<{ n: number }>(raw, tenancy)
          worker = new Worker(variant, tenantProcessor<{ n: number }>(tenancy, async () => {
            await work(tenantry)
            drained[variant]++
          }), { connection, prefix, concurrency: CONCURRENCY })
          add = () => runWithTenant(quiet, () => queue.addBulk(Array.from({ length: drain }, (_, n) => ({ name: 'work', data: { n } }))))
        }
        closers.unshift(() => worker.close(), () => raw.obliterate({ force: true }).then(() => raw.close()))
        drainers.set(variant, { worker, add })
      }
      const rates: Record<Variant, number[]> = { plain: [], tenancy: [], tenancy_catalog: [] }
      const drainRound = async (variant: Variant): Promise<number> => {
        const { worker, add } = drainers.get(variant)!
        await worker.pause()
        await add()
        const before = drained[variant]
        const t0 = performance.now()
        worker.resume()
        const deadline = Date.now() + 300_000
        while (drained[variant] - before < drain) {
          if (Date.now() > deadline) throw new Error(`jobs bench: the ${variant} drain did not finish in 5 minutes`)
          await sleep(5)
        }
        return drain / ((performance.now() - t0) / 1000)
      }
      const variants: Variant[] = ['plain', 'tenancy', 'tenancy_catalog']
      for (const variant of variants) await drainRound(variant)
      for (let round = 0; round < Math.max(3, settings.rounds * 2); round++) {
        for (let i = 0; i < variants.length; i++) {
          const variant = variants[(i + round) % variants.length]!
          const rate = await drainRound(variant)
          rates[variant].push(rate)
          log(`drain round ${round + 1} ${variant}: ${rate.toFixed(0)} jobs/s`)
        }
      }
      const pairRatio = (variant: Variant): number => median(rates[variant].map((r, i) => r / rates.plain[i]!))
      const figures = [
        figure({ metric: 'quiet_p99_with_flood_fair', value: median(p99.fair), unit: 'ms', baseline: median(p99.alone), better: 'lower', goal: 0.667, digits: 1 }),
        figure({ metric: 'quiet_p99_with_flood_fifo', value: median(p99.fifo), unit: 'ms', baseline: median(p99.alone), better: 'lower', digits: 1 }),
        // The machine's speed drifts between rounds by more than the effect: each round's ratio is taken against
        // the plain drain of the same round, and the figure is plain's median times the median of those ratios.
        figure({ metric: 'jobs_per_second_tenancy', value: median(rates.plain) * pairRatio('tenancy'), unit: 'jobs/s', baseline: median(rates.plain), better: 'higher', goal: 0.95, digits: 0 }),
        figure({ metric: 'jobs_per_second_tenancy_catalog', value: median(rates.plain) * pairRatio('tenancy_catalog'), unit: 'jobs/s', baseline: median(rates.plain), better: 'higher', digits: 0 }),
      ]
      const notes = [
        `Redis: ${server.description}. BullMQ 6, one process, workers of concurrency ${CONCURRENCY}; each job runs one scoped query (select from notes limit 1) on the harness's backend.`,
        `Fairness: the flood tenant's ${flooded} jobs are added (addBulk, 1,000 at a time), then the quiet tenant adds ${quietJobs} jobs, one every ${QUIET_EVERY_MS} ms; latency is from add to the handler's start. "alone": the same quiet jobs on an empty queue. ${settings.rounds} rounds, alternating order; p99 per round: fair ${p99.fair.map((v) => v.toFixed(1)).join(', ')} ms; alone ${p99.alone.map((v) => v.toFixed(1)).join(', ')} ms; FIFO (no fairness, one round) ${p99.fifo.map((v) => v.toFixed(0)).join(', ')} ms. The goal ratio is alone/fair ≥ 1/1.5 (fair within 1.5x of alone).`,
        `Overhead: ${drain} jobs of one tenant drained per round by each variant, alternating; jobs/s per round: tenancy ${rates.tenancy.map((r) => r.toFixed(0)).join(', ')}; tenancy_catalog ${rates.tenancy_catalog.map((r) => r.toFixed(0)).join(', ')}; plain ${rates.plain.map((r) => r.toFixed(0)).join(', ')}. tenancy = TenantQueue.addBulk + tenantProcessor (the record, the tenant re-read through tenantry.directory — the catalog behind a cache that every catalog change invalidates, as the request path reads it —, runWithTenant, payload check); tenancy_catalog = the same reading the catalog's table for every job (one more query per job); plain = Queue.addBulk + a Worker whose handler calls runWithTenant with the tenant in its data (no re-read, no suspension check). The figures are plain's median jobs/s times the median of the per-round ratios (${rates.tenancy.map((r, i) => (r / rates.plain[i]!).toFixed(3)).join(', ')} for tenancy), since the machine's speed drifts between rounds by more than the effect.`,
      ]
      if (quick) notes.push('Quick run: figures are not a measurement.')
      return { figures, notes }
    } finally {
      for (const close of closers) await close().catch(() => undefined)
      redis.disconnect()
      await server.close()
    }
  },
}
