/**
 * pg-boss job tenancy on a real PostgreSQL (TENANTRY_PG_URL; skipped
 * without it: pg-boss needs a PostgreSQL server of its own, it does not run
 * on PGlite). Each run uses its own pg-boss schema and drops it.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { JobTenancy, currentScope, currentTenant, runAsSystem, runWithTenant } from '@tenantry/core'
import { expectCode, waitFor, jobTenants, killWorkerMidJob } from '@tenantry/test-kit'
import PgBoss from 'pg-boss'
import pg from 'pg'
import { TenantBoss, type RefusedJobOutput } from '../src/index.ts'

const url = process.env.TENANTRY_PG_URL || undefined
const here = dirname(fileURLToPath(import.meta.url))


describe('pg-boss: jobs carry their tenant', { skip: url === undefined ? 'needs TENANTRY_PG_URL (pg-boss runs on a PostgreSQL server)' : false }, () => {
  const schema = `tenantry_pgboss_${randomUUID().slice(0, 8)}`
  const dir = jobTenants()
  const acme = dir.add('acme')
  const globex = dir.add('globex')
  const jobs = new JobTenancy({ tenants: dir.source })
  let boss: PgBoss
  let tenantBoss: TenantBoss<Record<string, unknown>>

  async function queue(prefix: string): Promise<string> {
    const name = `${prefix}-${randomUUID().slice(0, 8)}`
    await boss.createQueue(name)
    return name
  }
  const state = async (name: string, id: string | null): Promise<string | undefined> => (await boss.getJobById(name, id!))?.state

  before(async () => {
    boss = new PgBoss({ connectionString: url!, schema, max: 4 })
    boss.on('error', () => undefined)
    await boss.start()
    tenantBoss = new TenantBoss(boss, jobs, { schema })
  })
  after(async () => {
    await boss?.stop({ graceful: false, wait: true }).catch(() => undefined)
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
  })

  it('runs every job in the tenant that sent it: 40 jobs of two tenants, never as the other', async () => {
    const name = await queue('mix')
    const seen: { by: string; as: string }[] = []
    await tenantBoss.work(name, (data) => {
      seen.push({ by: data.by as string, as: currentTenant().id })
    }, { pollingIntervalSeconds: 0.5, batchSize: 10 })
    for (let i = 0; i < 20; i++) {
      await runWithTenant(acme, () => tenantBoss.send(name, { by: acme.id }))
      await runWithTenant(globex, () => tenantBoss.send(name, { by: globex.id }))
    }
    await waitFor(() => seen.length === 40, 30_000, '40 jobs ran')
    for (const s of seen) assert.equal(s.as, s.by)
  })

  it('settles each job of a fetch on its own: one failing job fails alone, the others complete', async () => {
    const name = await queue('batch')
    await tenantBoss.work(name, (data) => {
      if (data.fail === true) throw new Error('this one fails')
      return { ok: currentTenant().slug }
    }, { pollingIntervalSeconds: 0.5, batchSize: 5 })
    const ids = await runWithTenant(acme, async () => [
      await tenantBoss.send(name, { fail: false }), await tenantBoss.send(name, { fail: true }, { retryLimit: 0 }), await tenantBoss.send(name, { fail: false }),
    ])
    await waitFor(async () => (await Promise.all(ids.map((id) => state(name, id)))).every((s) => s === 'completed' || s === 'failed'), 20_000, 'all settled')
    assert.deepEqual(await Promise.all(ids.map((id) => state(name, id))), ['completed', 'failed', 'completed'])
    assert.deepEqual((await boss.getJobById(name, ids[0]!))?.output, { ok: 'acme' })
    assert.match(JSON.stringify((await boss.getJobById(name, ids[1]!))?.output), /this one fails/)
  })

  it('sends nothing with no tenant in scope, or when the data names another tenant', async () => {
    const name = await queue('refuse')
    await assert.rejects(tenantBoss.send(name, {}), expectCode('TENANT_CONTEXT_MISSING'))
    await assert.rejects(runWithTenant(acme, () => tenantBoss.send(name, { tenantId: globex.id })), expectCode('TENANT_MISMATCH'))
    await assert.rejects(runWithTenant(acme, () => tenantBoss.sendSystem('roll-up', name, {})), expectCode('TENANT_MISMATCH'))
    assert.equal(await boss.getQueueSize(name), 0)
  })

  it('cancels, never runs, a job sent past Tenantry: no tenant record, or data naming another tenant', async () => {
    const name = await queue('forged')
    let called = 0
    const refused: string[] = []
    await tenantBoss.work(name, () => {
      called++
    }, { pollingIntervalSeconds: 0.5, onRefused: (_job, r) => refused.push(`${r.disposition}:${r.error.code}`) })
    const plain = await boss.send(name, { reportId: 1 }, { retryLimit: 3 })
    const forged = await boss.send(name, { tenantry: { v: 1, scope: 'tenant', tenantId: acme.id, slug: 'acme' }, data: { tenantId: globex.id } }, { retryLimit: 3 })
    await waitFor(async () => (await state(name, plain)) === 'cancelled' && (await state(name, forged)) === 'cancelled', 20_000, 'both cancelled')
    assert.equal(called, 0)
    assert.deepEqual(refused.sort(), ['drop:TENANT_MISMATCH', 'drop:VALIDATION_FAILED'])
  })

  it('parks a suspended tenant\'s job (sent again for later, not run) and runs it once the tenant is active again', async () => {
    const name = await queue('parked')
    const ran: string[] = []
    await tenantBoss.work(name, () => {
      ran.push(currentTenant().slug)
    }, { pollingIntervalSeconds: 0.5, parkDelaySeconds: 1 })
    const paused = dir.add('initech')
    dir.set(paused, 'suspended')
    const id = await runWithTenant(paused, () => tenantBoss.send(name, { n: 1 }, { priority: 5 }))
    await waitFor(async () => (await state(name, id)) === 'completed', 20_000, 'the original completed as parked')
    const original = await boss.getJobById(name, id!)
    const output = original?.output as RefusedJobOutput
    assert.equal(output.tenantry.disposition, 'park')
    assert.equal(output.tenantry.code, 'TENANT_SUSPENDED')
    const parkedAs = output.tenantry.parkedAs!
    assert.equal((await boss.getJobById(name, parkedAs))?.priority, 5)
    assert.deepEqual(ran, [])
    dir.set(paused, 'active')
    await waitFor(() => ran.length === 1, 30_000, 'the parked job ran once resumed')
    assert.deepEqual(ran, ['initech'])
  })

  it('runs an explicit system job in an audited system scope', async () => {
    const name = await queue('system')
    const scopes: (string | undefined)[] = []
    await tenantBoss.work(name, (_data, _job, context) => {
      scopes.push(`${currentScope()?.kind}:${context.systemReason}`)
    }, { pollingIntervalSeconds: 0.5 })
    await runAsSystem('test', () => tenantBoss.sendSystem('nightly roll-up', name, {}))
    await waitFor(() => scopes.length === 1, 20_000, 'the system job ran')
    assert.deepEqual(scopes, ['system:nightly roll-up'])
  })

  it('loses nothing when a worker process is killed mid-job: pg-boss expires it into a retry, and the next worker runs it in its tenant', async () => {
    // A second instance whose maintenance runs every second: it expires the dead worker's job.
    const keeper = new PgBoss({ connectionString: url!, schema, max: 2, maintenanceIntervalSeconds: 1, schedule: false })
    keeper.on('error', () => undefined)
    await keeper.start()
    try {
      const name = await queue('killed')
      const id = await runWithTenant(globex, () => tenantBoss.send(name, { by: globex.id }, { expireInSeconds: 2, retryLimit: 2, retryDelay: 0 }))
      const said = await killWorkerMidJob(join(here, 'fixtures', 'hanging-worker.ts'), {
        TENANTRY_TEST_TENANTS: JSON.stringify(dir.all()), TENANTRY_TEST_PG: url!, TENANTRY_TEST_QUEUE: name, TENANTRY_TEST_SCHEMA: schema,
      })
      assert.equal(said, `started ${globex.id}`)
      assert.equal(await state(name, id), 'active', 'held by the dead worker until it expires')
      const seen: string[] = []
      await tenantBoss.work(name, (data) => {
        seen.push(`${data.by as string}=${currentTenant().id}`)
        return { ok: true }
      }, { pollingIntervalSeconds: 0.5 })
      await waitFor(async () => (await state(name, id)) === 'completed', 30_000, 'the job ran again and completed')
      assert.deepEqual(seen, [`${globex.id}=${globex.id}`])
      const job = await boss.getJobById(name, id!)
      assert.equal(job?.retryCount, 1, 'one retry: the expired attempt')
    } finally {
      await keeper.stop({ graceful: false, wait: true }).catch(() => undefined)
    }
  })

  it('counts a tenant\'s queued, running and failed jobs, by queue, and never another tenant\'s', async () => {
    const name = await queue('counts')
    let release: () => void = () => undefined
    const held = new Promise<void>((r) => (release = r))
    await runWithTenant(acme, async () => {
      await tenantBoss.send(name, { hold: true })
      await tenantBoss.send(name, { fail: true }, { retryLimit: 0 })
    })
    await runWithTenant(globex, () => tenantBoss.send(name, { fail: true }, { retryLimit: 0 }))
    // Two workers of one job a fetch: one holds its job, the other fails theirs.
    for (let i = 0; i < 2; i++) {
      await tenantBoss.work(name, async (data) => {
        if (data.fail === true) throw new Error('fails')
        await held
      }, { pollingIntervalSeconds: 0.5 })
    }
    try {
      await waitFor(async () => {
        const [a] = await tenantBoss.jobCounts(acme.id, [name])
        const [g] = await tenantBoss.jobCounts(globex.id, [name])
        return a?.failed === 1 && a.running === 1 && g?.failed === 1
      }, 20_000, 'acme: one running, one failed; globex: one failed')
      await runWithTenant(acme, () => tenantBoss.send(name, { later: true }, { startAfter: 60 }))
      assert.deepEqual(await tenantBoss.jobCounts(acme.id, [name]), [{ queue: name, queued: 1, running: 1, failed: 1 }])
      assert.deepEqual(await tenantBoss.jobCounts(globex.id, [name]), [{ queue: name, queued: 0, running: 0, failed: 1 }])
      assert.deepEqual(await tenantBoss.jobCounts(randomUUID()), [])
    } finally {
      release()
    }
    await boss.offWork(name)
  })
})
