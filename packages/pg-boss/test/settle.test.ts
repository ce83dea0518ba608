/**
 * How TenantBoss settles what a fetch gave it, against a stand-in for
 * pg-boss (no database): a job that could not be sent again is failed, never
 * completed unrun; a fetch of several settles each job once all have run.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { JobTenancy, runWithTenant } from '@tenantry/core'
import { expectCode, jobTenants } from '@tenantry/test-kit'
import type PgBoss from 'pg-boss'
import { TenantBoss } from '../src/index.ts'

type Batch = (jobs: PgBoss.JobWithMetadata<unknown>[]) => Promise<unknown>

/** A pg-boss stand-in: records what is sent, completed, failed, cancelled; `send` answers `sendAnswer`. */
function fakeBoss(sendAnswer: string | null) {
  const calls: string[] = []
  const sent: unknown[] = []
  let batch: Batch | undefined
  const boss = {
    send: async (_name: string, data: unknown) => {
      sent.push(data)
      return sendAnswer
    },
    work: async (_name: string, _options: unknown, callback: Batch) => {
      batch = callback
      return 'worker-1'
    },
    complete: async (_name: string, id: string) => void calls.push(`complete:${id}`),
    fail: async (_name: string, id: string) => void calls.push(`fail:${id}`),
    cancel: async (_name: string, id: string) => void calls.push(`cancel:${id}`),
    once: () => undefined,
    getDb: () => ({ executeSql: async () => ({ rows: [] }) }),
  }
  return { boss: boss as unknown as PgBoss, calls, sent, run: (jobs: PgBoss.JobWithMetadata<unknown>[]) => batch!(jobs) }
}

function jobOf(id: string, data: unknown): PgBoss.JobWithMetadata<unknown> {
  return { id, name: 'q', data, priority: 0, retryLimit: 2, retryCount: 0, retryDelay: 0, retryBackoff: false, expireInSeconds: 900, singletonKey: null, deadLetter: null } as unknown as PgBoss.JobWithMetadata<unknown>
}

describe('TenantBoss settles each fetched job exactly as it ended', () => {
  const dir = jobTenants()
  const acme = dir.add('acme')
  const paused = dir.add('paused')
  dir.set(paused, 'suspended')
  const jobs = new JobTenancy({ tenants: dir.source })

  it('fails (pg-boss retries) a parked job pg-boss would not send again, instead of completing it unrun', async () => {
    const fake = fakeBoss(null)
    const boss = new TenantBoss(fake.boss, jobs)
    const envelope = await runWithTenant(paused, async () => jobs.envelope({ n: 1 }))
    let ran = 0
    await boss.work('q', () => {
      ran++
    })
    await assert.rejects(fake.run([jobOf('j1', envelope)]), expectCode('OVERLOADED', /TENANT_SUSPENDED: the job could not be sent again/))
    assert.equal(ran, 0)
    assert.equal(fake.sent.length, 1, 'one try to send it again')
  })

  it('completes a parked job that was sent again with the copy\'s id', async () => {
    const fake = fakeBoss('copy-1')
    const boss = new TenantBoss(fake.boss, jobs)
    const envelope = await runWithTenant(paused, async () => jobs.envelope({ n: 1 }))
    await boss.work('q', () => undefined)
    const output = await fake.run([jobOf('j1', envelope)])
    assert.deepEqual(output, { tenantry: { disposition: 'park', code: 'TENANT_SUSPENDED', message: (output as { tenantry: { message: string } }).tenantry.message, parkedAs: 'copy-1' } })
  })

  it('sends a parked retry again with the retries it had left, not a fresh set', async () => {
    const sentOptions: { retryLimit?: number }[] = []
    const fake = fakeBoss('copy-2')
    const send = (fake.boss as unknown as { send: (n: string, d: unknown, o: { retryLimit?: number }) => Promise<string> })
    const original = send.send
    send.send = async (n, d, o) => {
      sentOptions.push(o)
      return original(n, d, o)
    }
    const boss = new TenantBoss(fake.boss, jobs)
    const envelope = await runWithTenant(paused, async () => jobs.envelope({ n: 1 }))
    await boss.work('q', () => undefined)
    await fake.run([{ ...jobOf('j2', envelope), retryLimit: 3, retryCount: 2 } as PgBoss.JobWithMetadata<unknown>])
    assert.equal(sentOptions[0]?.retryLimit, 1)
  })

  it('settles a fetch of several only once every job has run: a fast failure is not failed while a slow sibling runs', async () => {
    const fake = fakeBoss('x')
    const boss = new TenantBoss(fake.boss, jobs)
    const ok = await runWithTenant(acme, async () => jobs.envelope({ slow: true }))
    const bad = await runWithTenant(acme, async () => jobs.envelope({ fail: true }))
    let release: () => void = () => undefined
    const slow = new Promise<void>((r) => (release = r))
    await boss.work('q', async (data: Record<string, unknown>) => {
      if (data.fail === true) throw new Error('fails')
      await slow
      return { done: true }
    }, { batchSize: 2 })
    const fetch = fake.run([jobOf('slow', ok), jobOf('bad', bad)])
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(fake.calls, [], 'nothing settled while the slow job runs')
    release()
    await fetch
    assert.deepEqual(fake.calls.sort(), ['complete:slow', 'fail:bad'])
  })
})
