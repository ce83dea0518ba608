/**
 * Per-tenant fairness on pg-boss, on a real PostgreSQL (TENANTRY_PG_URL;
 * skipped without it: pg-boss does not run on PGlite): a flood does not
 * starve a quiet tenant, plan weights share the workers, a per-tenant cap
 * holds over two pg-boss instances, and the counts go back to nothing (or
 * are set right by reconcile). Each run uses its own pg-boss schema.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { JobTenancy, currentTenant, runAsSystem, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { concurrencyProbe, expectCode, waitFor } from '@tenantry/test-kit'
import PgBoss from 'pg-boss'
import pg from 'pg'
import { TenantBoss } from '../src/index.ts'

const url = process.env.TENANTRY_PG_URL || undefined
const tenant = (slug: string, plan = 'free'): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', plan, isolation: 'shared' })

describe('pg-boss: per-tenant fairness', { skip: url === undefined ? 'needs TENANTRY_PG_URL (pg-boss runs on a PostgreSQL server)' : false }, () => {
  const schema = `tenantry_pgfair_${randomUUID().slice(0, 8)}`
  const flood = tenant('flood')
  const quiet = tenant('quiet')
  const pro = tenant('pro', 'pro')
  const free = tenant('free')
  const all = [flood, quiet, pro, free]
  const jobs = new JobTenancy({ tenants: { getById: async (id) => all.find((t) => t.id === id) } })
  const bosses: PgBoss[] = []

  async function startBoss(): Promise<PgBoss> {
    const boss = new PgBoss({ connectionString: url!, schema, max: 4, supervise: bosses.length === 0, schedule: false })
    boss.on('error', () => undefined)
    await boss.start()
    bosses.push(boss)
    return boss
  }
  async function queue(boss: PgBoss, prefix: string): Promise<string> {
    const name = `${prefix}-${randomUUID().slice(0, 8)}`
    await boss.createQueue(name)
    return name
  }
  const send = (b: TenantBoss<{ i: number }>, t: ScopedTenant, name: string, n: number) =>
    runWithTenant(t, async () => {
      for (let i = 0; i < n; i++) await b.send(name, { i })
    })
  /**
   * The tenants of the next `n` jobs pg-boss would hand a worker, in its
   * order (priority, then age; a fetch returns its rows unordered), fetched
   * and then cancelled.
   */
  async function nextOwners(boss: PgBoss, name: string, n: number): Promise<string[]> {
    const fetched = (await boss.fetch<{ tenantry: { tenantId: string } }>(name, { batchSize: n, includeMetadata: true })) ?? []
    await boss.cancel(name, fetched.map((j) => j.id))
    fetched.sort((x, y) => y.priority - x.priority || x.createdOn.getTime() - y.createdOn.getTime())
    return fetched.map((j) => all.find((t) => t.id === j.data.tenantry.tenantId)?.slug ?? '?')
  }

  before(async () => {
    await startBoss()
  })
  after(async () => {
    for (const boss of bosses) await boss.stop({ graceful: false, wait: true }).catch(() => undefined)
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
  })

  it('puts a quiet tenant\'s jobs among the first, not behind another tenant\'s 300 queued jobs; without fairness they wait behind them', async () => {
    const boss = bosses[0]!
    const fair = new TenantBoss<{ i: number }>(boss, jobs, { schema, fairness: {} })
    const plain = new TenantBoss<{ i: number }>(boss, jobs, { schema })
    const fairName = await queue(boss, 'fair')
    const plainName = await queue(boss, 'plain')
    for (const [b, name] of [[fair, fairName], [plain, plainName]] as const) {
      await send(b, flood, name, 300)
      await send(b, quiet, name, 5)
    }
    const fairOrder = await nextOwners(boss, fairName, 12)
    assert.equal(fairOrder.filter((s) => s === 'quiet').length, 5, `fair: the quiet tenant's 5 jobs among the next 12: ${fairOrder.join(',')}`)
    assert.deepEqual(fairOrder.slice(0, 10), ['flood', 'quiet', 'flood', 'quiet', 'flood', 'quiet', 'flood', 'quiet', 'flood', 'quiet'], 'taken in turn')
    const plainOrder = await nextOwners(boss, plainName, 300)
    assert.ok(!plainOrder.includes('quiet'), 'FIFO: all 5 behind the flood')
    assert.deepEqual(await fair.pending(fairName), { [flood.id]: 300, [quiet.id]: 5 }, 'fetched-and-cancelled by hand: no worker saw them end')
    await fair.reconcile(fairName)
    assert.deepEqual(await fair.pending(fairName), { [flood.id]: 293 }, 'reconcile sets the counts to the queue\'s jobs')
  })

  it('runs a quiet tenant\'s job within a few jobs while another tenant floods the worker', async () => {
    const boss = bosses[0]!
    const fair = new TenantBoss<{ i: number }>(boss, jobs, { schema, fairness: {} })
    const name = await queue(boss, 'latency')
    const ran: string[] = []
    await send(fair, flood, name, 24)
    await fair.work(name, async () => {
      ran.push(currentTenant().slug)
      await new Promise((r) => setTimeout(r, 20))
    }, { batchSize: 2, pollingIntervalSeconds: 0.5 })
    await waitFor(() => ran.length >= 4, 20_000, 'the flood started')
    await send(fair, quiet, name, 1)
    const sentAt = ran.length
    await waitFor(() => ran.includes('quiet'), 20_000, 'the quiet job ran')
    assert.ok(ran.indexOf('quiet') - sentAt <= 4, `the quiet job ran ${ran.indexOf('quiet') - sentAt} jobs after it was sent, not after the ${24 - sentAt} queued`)
    await waitFor(() => ran.length === 25, 60_000, 'all ran')
    // Each count is given back just after its handler returns.
    await waitFor(async () => Object.keys(await fair.pending(name)).length === 0, 10_000, 'every count back to nothing')
    await boss.offWork(name)
  })

  it('shares the workers by plan weight: a weight-3 tenant gets three jobs taken for each one of a weight-1 tenant', async () => {
    const boss = bosses[0]!
    const fair = new TenantBoss<{ i: number }>(boss, jobs, { schema, fairness: { weights: { pro: 3 } } })
    const name = await queue(boss, 'weighted')
    await send(fair, free, name, 100)
    await send(fair, pro, name, 150)
    const first = await nextOwners(boss, name, 120)
    const ratio = first.filter((s) => s === 'pro').length / first.filter((s) => s === 'free').length
    assert.ok(ratio > 2.5 && ratio < 3.5, `pro:free in the first 120 = ${ratio.toFixed(2)}`)
  })

  it('holds a tenant to its cap over two pg-boss instances of 4 jobs a fetch, and lets the other tenant use the rest', async () => {
    const second = await startBoss()
    const name = await queue(bosses[0]!, 'capped')
    const options = { schema, fairness: { concurrencyPerTenant: 2, retryDelayMs: 100 } }
    const a = new TenantBoss<{ i: number }>(bosses[0]!, jobs, options)
    const b = new TenantBoss<{ i: number }>(second, jobs, options)
    const probe = concurrencyProbe(300)
    const handler = probe.handler
    await send(a, flood, name, 10)
    await send(a, quiet, name, 4)
    for (const t of [a, b]) await t.work(name, handler, { batchSize: 4, pollingIntervalSeconds: 0.5 })
    await waitFor(() => probe.done() >= 14, 60_000, 'all 14 jobs ran')
    assert.equal(probe.peak.get('flood'), 2)
    assert.equal(probe.peak.get('quiet'), 2)
    await waitFor(async () => Object.keys(await a.pending(name)).length === 0, 10_000, 'deferred jobs kept their count; every count back to nothing')
    const deferred = (await bosses[0]!.fetch(name, { batchSize: 1, includeMetadata: true })) ?? []
    assert.deepEqual(deferred, [], 'nothing left in the queue')
  })

  it('counts a system job under `system`, refuses an explicit priority, and gives the count back when a job fails for good', async () => {
    const boss = bosses[0]!
    const fair = new TenantBoss<{ i: number }>(boss, jobs, { schema, fairness: {} })
    const name = await queue(boss, 'counts')
    await assert.rejects(runWithTenant(quiet, () => fair.send(name, { i: 1 }, { priority: 1 })), expectCode('VALIDATION_FAILED'))
    await runAsSystem('test', () => fair.sendSystem('roll-up', name, { i: 0 }, { retryLimit: 0 }))
    await runWithTenant(quiet, () => fair.send(name, { i: 1 }, { retryLimit: 1, retryDelay: 0 }))
    assert.deepEqual(await fair.pending(name), { system: 1, [quiet.id]: 1 })
    let attempts = 0
    await fair.work(name, () => {
      attempts++
      throw new Error('always fails')
    }, { pollingIntervalSeconds: 0.5, batchSize: 2 })
    await waitFor(async () => Object.keys(await fair.pending(name)).length === 0, 30_000, 'counts back to nothing')
    await boss.offWork(name)
    assert.equal(attempts, 3, 'the system job once, the tenant job twice (retryLimit: 1)')
  })

  it('checks its options', () => {
    const boss = bosses[0]!
    assert.throws(() => new TenantBoss(boss, jobs, { fairness: { weights: { pro: 0 } } }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new TenantBoss(boss, jobs, { fairness: { concurrencyPerTenant: 0 } }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new TenantBoss(boss, jobs, { schema: 'Pg"Boss' }), expectCode('VALIDATION_FAILED'))
    return assert.rejects(new TenantBoss(boss, jobs, { schema }).pending('x'), expectCode('VALIDATION_FAILED'))
  })
})
