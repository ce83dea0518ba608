/**
 * Per-tenant fairness on BullMQ, on a real Redis (TENANTRY_REDIS_URL, else a
 * throwaway redis-server): a flood does not starve a quiet tenant, plan
 * weights share the workers, a per-tenant cap holds over several workers,
 * and the counts go back to nothing.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { JobTenancy, currentTenant, runAsSystem, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { commandOnPath, concurrencyProbe, expectCode, redisUrlFromEnv, startThrowawayRedis, waitFor, type ThrowawayRedis } from '@tenantry/test-kit'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { FairShare, TenantQueue, tenantProcessor } from '../src/index.ts'

const envUrl = redisUrlFromEnv()
const skip = envUrl === undefined && !commandOnPath('redis-server') ? 'needs TENANTRY_REDIS_URL or redis-server on PATH' : false

const tenant = (slug: string, plan = 'free'): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', plan, isolation: 'shared' })

describe('BullMQ: per-tenant fairness', { skip }, () => {
  let redis: ThrowawayRedis | undefined
  let client: Redis
  let connection: { host: string; port: number }
  const prefix = `tenantry-fair-${randomUUID().slice(0, 8)}`
  const flood = tenant('flood')
  const quiet = tenant('quiet')
  const pro = tenant('pro', 'pro')
  const free = tenant('free')
  const all = [flood, quiet, pro, free]
  const jobs = new JobTenancy({ tenants: { getById: async (id) => all.find((t) => t.id === id) } })
  const closers: (() => Promise<unknown>)[] = []

  function queueOf(name: string, fairness: FairShare | undefined): TenantQueue<{ i: number }> {
    const raw = new Queue(name, { connection, prefix })
    closers.push(() => raw.obliterate({ force: true }).then(() => raw.close()))
    return new TenantQueue<{ i: number }>(raw, jobs, fairness === undefined ? {} : { fairness })
  }
  function worker(name: string, fairness: FairShare | undefined, handler: () => Promise<void> | void, concurrency = 1): Worker {
    const w = new Worker(name, tenantProcessor(jobs, handler, fairness === undefined ? {} : { fairness }), { connection, prefix, concurrency, autorun: false })
    closers.unshift(() => w.close())
    return w
  }
  /** Who ran, in the order the handlers started, until `total` have run. */
  async function order(name: string, fairness: FairShare | undefined, total: number, concurrency = 1): Promise<string[]> {
    const seen: string[] = []
    const w = worker(name, fairness, async () => {
      seen.push(currentTenant().slug)
      await new Promise((r) => setTimeout(r, 1))
    }, concurrency)
    void w.run()
    await waitFor(() => seen.length >= total, 60_000, `${total} jobs ran`)
    await w.close()
    return seen
  }

  before(async () => {
    if (envUrl === undefined) redis = await startThrowawayRedis()
    const url = new URL(envUrl ?? redis!.url)
    connection = { host: url.hostname, port: Number(url.port || 6379) }
    client = new Redis({ ...connection, maxRetriesPerRequest: 1 })
  })
  after(async () => {
    for (const close of closers) await close().catch(() => undefined)
    client?.disconnect()
    await redis?.stop()
  })

  it('runs a quiet tenant\'s jobs among the first, not after another tenant\'s 1,000 queued jobs; without fairness they wait behind them', async () => {
    const fairness = new FairShare({ redis: client })
    const fair = `fair-${randomUUID()}`
    const plain = `plain-${randomUUID()}`
    for (const [name, f] of [[fair, fairness], [plain, undefined]] as const) {
      const queue = queueOf(name, f)
      await runWithTenant(flood, () => queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ name: 'work', data: { i } }))))
      await runWithTenant(quiet, () => queue.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'work', data: { i } }))))
    }
    const fairOrder = await order(fair, fairness, 1005)
    const lastQuiet = fairOrder.lastIndexOf('quiet')
    assert.ok(lastQuiet < 12, `the quiet tenant's 5 jobs ran by position ${lastQuiet} of 1,005`)
    const plainOrder = await order(plain, undefined, 1005)
    assert.ok(plainOrder.indexOf('quiet') >= 1000, 'FIFO: behind the flood')
    assert.deepEqual(await fairness.pending(`${prefix}:${fair}`), {}, 'every count back to nothing')
  })

  it('shares the workers by plan weight: a weight-3 tenant gets three jobs taken for each one of a weight-1 tenant', async () => {
    const fairness = new FairShare({ redis: client, weights: { pro: 3 } })
    const name = `weighted-${randomUUID()}`
    const queue = queueOf(name, fairness)
    await runWithTenant(free, () => queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'work', data: { i } }))))
    await runWithTenant(pro, () => queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'work', data: { i } }))))
    const first = (await order(name, fairness, 600)).slice(0, 200)
    const ratio = first.filter((s) => s === 'pro').length / first.filter((s) => s === 'free').length
    assert.ok(ratio > 2.5 && ratio < 3.5, `pro:free in the first 200 = ${ratio.toFixed(2)}`)
  })

  it('holds a tenant to its cap over two workers of 4 slots each, and lets the other tenants use the rest', async () => {
    const fairness = new FairShare({ redis: client, concurrencyPerTenant: 2, retryDelayMs: 20 })
    const name = `capped-${randomUUID()}`
    const queue = queueOf(name, fairness)
    const probe = concurrencyProbe(30)
    const handler = probe.handler
    await runWithTenant(flood, () => queue.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: 'work', data: { i } }))))
    await runWithTenant(quiet, () => queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'work', data: { i } }))))
    const workers = [worker(name, fairness, handler, 4), worker(name, fairness, handler, 4)]
    for (const w of workers) void w.run()
    await waitFor(() => probe.done() >= 26, 60_000, 'all 26 jobs ran')
    assert.equal(probe.peak.get('flood'), 2)
    assert.equal(probe.peak.get('quiet'), 2)
    // Each count is given back just after its handler returns.
    await waitFor(async () => Object.keys(await fairness.pending(`${prefix}:${name}`)).length === 0, 10_000, 'every count back to nothing')
  })

  it('counts a system job under `system`, refuses an explicit priority, and gives the count back when a job fails for good', async () => {
    const fairness = new FairShare({ redis: client })
    const name = `counts-${randomUUID()}`
    const queue = queueOf(name, fairness)
    await assert.rejects(runWithTenant(quiet, () => queue.add('work', { i: 1 }, { priority: 1 })), expectCode('VALIDATION_FAILED'))
    await runAsSystem('test', () => queue.addSystem('roll-up', 'work', { i: 0 }))
    await runWithTenant(quiet, () => queue.add('work', { i: 1 }, { attempts: 2 }))
    assert.deepEqual(await fairness.pending(`${prefix}:${name}`), { system: 1, [quiet.id]: 1 })
    let attempts = 0
    const w = worker(name, fairness, () => {
      attempts++
      throw new Error('always fails')
    })
    void w.run()
    await waitFor(async () => Object.keys(await fairness.pending(`${prefix}:${name}`)).length === 0, 20_000, 'counts back to nothing')
    assert.equal(attempts, 3, 'the system job once, the tenant job twice (attempts: 2)')
  })

  it('checks its options', () => {
    assert.throws(() => new FairShare({ redis: {} as never }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new FairShare({ redis: client, weights: { pro: 0 } }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new FairShare({ redis: client, concurrencyPerTenant: 0 }), expectCode('VALIDATION_FAILED'))
  })
})
