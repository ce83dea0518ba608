/**
 * BullMQ job tenancy on a real Redis: TENANTRY_REDIS_URL when set (CI),
 * else a throwaway redis-server when one is on PATH; skipped with neither.
 * Each run uses its own key prefix and removes it.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { JobTenancy, currentScope, currentTenant, runAsSystem, runWithTenant } from '@tenantry/core'
import { commandOnPath, expectCode, redisUrlFromEnv, startThrowawayRedis, waitFor, type ThrowawayRedis, jobTenants, killWorkerMidJob } from '@tenantry/test-kit'
import { Queue, QueueEvents, Worker, type Job } from 'bullmq'
import { TenantQueue, tenantProcessor } from '../src/index.ts'

const here = dirname(fileURLToPath(import.meta.url))
const envUrl = redisUrlFromEnv()
const skip = envUrl === undefined && !commandOnPath('redis-server') ? 'needs TENANTRY_REDIS_URL or redis-server on PATH' : false


describe('BullMQ: jobs carry their tenant', { skip }, () => {
  let redis: ThrowawayRedis | undefined
  let url: string
  const prefix = `tenantry-test-${randomUUID().slice(0, 8)}`
  const dir = jobTenants()
  const acme = dir.add('acme')
  const globex = dir.add('globex')
  const jobs = new JobTenancy({ tenants: dir.source })
  const closers: (() => Promise<unknown>)[] = []
  let connection: { host: string; port: number }

  function open(name: string): { queue: TenantQueue<Record<string, unknown>>; raw: Queue; events: QueueEvents } {
    const raw = new Queue(name, { connection, prefix })
    // Read the queue's event stream from its start: with '$' (the default) an
    // event written before the first XREAD is lost, and a job that finishes in
    // that gap is never reported (waitUntilFinished times out).
    const events = new QueueEvents(name, { connection, prefix, lastEventId: '0-0' })
    closers.push(() => events.close(), () => raw.obliterate({ force: true }).then(() => raw.close()))
    return { queue: new TenantQueue(raw, jobs), raw, events }
  }
  function work(name: string, handler: Parameters<typeof tenantProcessor<Record<string, unknown>>>[1], options: { parkDelayMs?: number; concurrency?: number; stalledInterval?: number } = {}): Worker {
    const worker = new Worker(name, tenantProcessor(jobs, handler, { parkDelayMs: options.parkDelayMs ?? 200 }), {
      connection, prefix, concurrency: options.concurrency ?? 1, ...(options.stalledInterval === undefined ? {} : { stalledInterval: options.stalledInterval, lockDuration: 1_000 }),
    })
    closers.unshift(() => worker.close())
    return worker
  }
  const finished = (job: Job, events: QueueEvents) => job.waitUntilFinished(events, 15_000)

  before(async () => {
    if (envUrl === undefined) redis = await startThrowawayRedis()
    url = envUrl ?? redis!.url
    const parsed = new URL(url)
    connection = { host: parsed.hostname, port: Number(parsed.port || 6379) }
  })
  after(async () => {
    for (const close of closers) await close().catch(() => undefined)
    await redis?.stop()
  })

  it('runs every job in the tenant that enqueued it: 60 jobs of two tenants, 4 at a time, never as the other', async () => {
    const name = `mix-${randomUUID()}`
    const { queue, events } = open(name)
    const seen: { by: string; as: string }[] = []
    work(name, async (data) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5))
      seen.push({ by: data.by as string, as: currentTenant().id })
      return currentTenant().slug
    }, { concurrency: 4 })
    const added: Job[] = []
    for (let i = 0; i < 30; i++) {
      added.push(await runWithTenant(acme, () => queue.add('work', { by: acme.id })))
      added.push(await runWithTenant(globex, () => queue.add('work', { by: globex.id })))
    }
    const results = await Promise.all(added.map((job) => finished(job, events)))
    assert.equal(seen.length, 60)
    for (const s of seen) assert.equal(s.as, s.by)
    assert.deepEqual(results.filter((r) => r === 'acme').length, 30)
  })

  it('adds nothing with no tenant in scope, or when the data names another tenant; addBulk checks every job first', async () => {
    const name = `refuse-${randomUUID()}`
    const { queue, raw } = open(name)
    await assert.rejects(queue.add('work', {}), expectCode('TENANT_CONTEXT_MISSING'))
    await assert.rejects(runWithTenant(acme, () => queue.add('work', { tenantId: globex.id })), expectCode('TENANT_MISMATCH'))
    await assert.rejects(runWithTenant(acme, () => queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: { tenant_id: globex.id } }])), expectCode('TENANT_MISMATCH'))
    const counts = await raw.getJobCounts()
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0)
  })

  it('fails, never runs, a job written past Tenantry: no tenant record, or a payload naming another tenant', async () => {
    const name = `forged-${randomUUID()}`
    const { raw, events } = open(name)
    let called = 0
    work(name, () => {
      called++
    })
    const plain = await raw.add('work', { reportId: 1 }, { attempts: 3 })
    const forged = await raw.add('work', { tenantry: { v: 1, scope: 'tenant', tenantId: acme.id, slug: 'acme' }, data: { tenantId: globex.id } }, { attempts: 3 })
    await assert.rejects(finished(plain, events), /VALIDATION_FAILED/)
    await assert.rejects(finished(forged, events), /TENANT_MISMATCH/)
    const failed = await raw.getJob(forged.id!)
    assert.equal(failed?.attemptsMade, 1, 'no retry: UnrecoverableError')
    assert.equal(called, 0)
  })

  it('parks a suspended tenant\'s job (delayed, not run, no attempt spent) and runs it once the tenant is active again', async () => {
    const name = `parked-${randomUUID()}`
    const { queue, raw, events } = open(name)
    const ran: string[] = []
    const refused: string[] = []
    const worker = new Worker(name, tenantProcessor(jobs, () => {
      ran.push(currentTenant().slug)
    }, { parkDelayMs: 300, onRefused: (_job, r) => refused.push(`${r.disposition}:${r.error.code}`) }), { connection, prefix })
    closers.unshift(() => worker.close())
    const suspended = dir.add('initech')
    dir.set(suspended, 'suspended')
    const job = await runWithTenant(suspended, () => queue.add('work', {}))
    await waitFor(async () => refused.length >= 1 && (await raw.getJobState(job.id!)) === 'delayed', 10_000, 'the job was parked')
    assert.deepEqual(ran, [])
    assert.equal(refused[0], 'park:TENANT_SUSPENDED')
    dir.set(suspended, 'active')
    await finished(job, events)
    assert.deepEqual(ran, ['initech'])
    assert.equal((await raw.getJob(job.id!))?.attemptsMade, 1)
  })

  it('drops the job of a tenant deleted or offboarding since it was enqueued', async () => {
    const name = `dropped-${randomUUID()}`
    const { queue, events } = open(name)
    let called = 0
    work(name, () => {
      called++
    })
    const leaving = dir.add('umbrella')
    const job = await runWithTenant(leaving, () => queue.add('work', {}))
    dir.set(leaving, 'offboarding')
    await assert.rejects(finished(job, events), /TENANT_SUSPENDED/)
    assert.equal(called, 0)
  })

  it('runs an explicit system job in an audited system scope; a tenant cannot add one', async () => {
    const name = `system-${randomUUID()}`
    const { queue, events } = open(name)
    work(name, (_data, _job, context) => ({ scope: currentScope()?.kind, reason: context.systemReason }))
    await assert.rejects(runWithTenant(acme, () => queue.addSystem('roll-up', 'work', {})), expectCode('TENANT_MISMATCH'))
    const job = await runAsSystem('test', () => queue.addSystem('nightly roll-up', 'work', {}))
    assert.deepEqual(await finished(job, events), { scope: 'system', reason: 'nightly roll-up' })
  })

  it('loses nothing when a worker is killed mid-job: the queue runs it again, in its tenant', async () => {
    const name = `killed-${randomUUID()}`
    const { queue, raw, events } = open(name)
    const job = await runWithTenant(globex, () => queue.add('work', { by: globex.id }, { attempts: 3 }))
    const said = await killWorkerMidJob(join(here, 'fixtures', 'hanging-worker.ts'), {
      TENANTRY_TEST_TENANTS: JSON.stringify(dir.all()), TENANTRY_TEST_REDIS: url, TENANTRY_TEST_QUEUE: name, TENANTRY_TEST_PREFIX: prefix,
    })
    assert.equal(said, `started ${globex.id}`)
    assert.equal(await raw.getJobState(job.id!), 'active', 'held by the dead worker until its lock expires')
    const seen: string[] = []
    work(name, (data) => {
      seen.push(`${data.by as string}=${currentTenant().id}`)
      return 'done'
    }, { stalledInterval: 500 })
    assert.equal(await finished(job, events), 'done')
    assert.deepEqual(seen, [`${globex.id}=${globex.id}`])
  })

  it('keeps job ids to their tenant: a given id is prefixed with the tenant, and getJob finds only the tenant\'s own jobs', async () => {
    const name = `ids-${randomUUID()}`
    const { queue } = open(name)
    const mine = await runWithTenant(acme, () => queue.add('work', {}, { jobId: 'report-1' }))
    assert.equal(mine.id, `${acme.id}.report-1`)
    const theirs = await runWithTenant(globex, () => queue.add('work', {}, { jobId: 'report-1' }))
    assert.equal(theirs.id, `${globex.id}.report-1`, 'the same id given by another tenant is its own job, not a no-op')
    assert.equal((await runWithTenant(acme, () => queue.getJob(mine.id!)))?.id, mine.id)
    assert.equal(await runWithTenant(acme, () => queue.getJob(theirs.id!)), undefined)
    await assert.rejects(queue.getJob(mine.id!), expectCode('TENANT_CONTEXT_MISSING'))
  })

  it('counts a tenant\'s queued, running and failed jobs from the queue\'s ids alone, never another tenant\'s', async () => {
    const name = `counts-${randomUUID()}`
    const { queue, events } = open(name)
    let release: () => void = () => undefined
    const held = new Promise<void>((r) => (release = r))
    const auto = await runWithTenant(acme, () => queue.add('work', { hold: true }))
    assert.ok(auto.id?.startsWith(`${acme.id}.`), 'an id TenantQueue makes starts with its tenant')
    const failing = await runWithTenant(acme, () => queue.add('work', { fail: true }))
    await runWithTenant(globex, () => queue.add('work', { fail: true }))
    work(name, async (data) => {
      if (data.fail === true) throw new Error('fails')
      await held
    }, { concurrency: 3 })
    await assert.rejects(finished(failing, events), /fails/)
    await waitFor(async () => (await queue.jobCounts(acme.id))[0]?.running === 1, 10_000, 'the held job runs')
    await runWithTenant(acme, () => queue.add('work', {}, { delay: 60_000 }))
    assert.deepEqual(await queue.jobCounts(acme.id), [{ queue: name, queued: 1, running: 1, failed: 1 }])
    assert.deepEqual(await queue.jobCounts(globex.id), [{ queue: name, queued: 0, running: 0, failed: 1 }])
    release()
    await finished(auto, events)
    assert.deepEqual(await queue.jobCounts(acme.id), [{ queue: name, queued: 1, running: 0, failed: 1 }])
  })
})
