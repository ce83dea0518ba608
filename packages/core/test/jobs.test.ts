import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  JobTenancy, type JobOutcome, currentScope, observeRequest, currentTenant, isJobEnvelope, onSystemScope, runAsSystem, runWithTenant,
} from '../src/index.ts'
import { expectCode, jobTenants } from '@tenantry/test-kit'


describe('JobTenancy: the tenant recorded at enqueue, re-entered in the worker', () => {
  it('records the tenant of the scope and runs the handler in that tenant, re-read from the catalog', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const jobs = new JobTenancy({ tenants: dir.source })
    const stored = JSON.parse(JSON.stringify(runWithTenant(acme, () => jobs.envelope({ reportId: 7 }))))
    assert.deepEqual(stored, { tenantry: { v: 1, scope: 'tenant', tenantId: acme.id, slug: 'acme' }, data: { reportId: 7 } })
    assert.equal(isJobEnvelope(stored), true)
    const readsBefore = dir.reads()
    const outcome = await jobs.run(stored, async (data: { reportId: number }, context) => {
      await new Promise((resolve) => setImmediate(resolve))
      return { data, seen: currentTenant().id, context: context.tenant?.slug }
    })
    assert.equal(dir.reads(), readsBefore + 1)
    assert.deepEqual(outcome, { ran: true, result: { data: { reportId: 7 }, seen: acme.id, context: 'acme' }, tenant: outcome.ran ? outcome.tenant : undefined })
  })

  it('gives the handler and the observer the scope\'s frozen copy of the tenant, never the source\'s object', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const ended: JobOutcome[] = []
    const jobs = new JobTenancy({ tenants: dir.source, observer: { end: (o) => ended.push(o) } })
    const stored = JSON.parse(JSON.stringify(runWithTenant(acme, () => jobs.envelope({}))))
    const outcome = await jobs.run(stored, async (_data, context) => {
      assert.equal(context.tenant, currentTenant(), 'one object: the scope\'s')
      assert.ok(Object.isFrozen(context.tenant))
      assert.throws(() => { (context.tenant as { id: string }).id = '22222222-2222-4222-8222-222222222222' }, TypeError)
      return 'done'
    })
    assert.equal(outcome.ran, true)
    assert.equal(ended[0]?.tenant?.id, acme.id)
    const source = await dir.source.getById(acme.id)
    assert.equal(source?.id, acme.id, "the source's object is unchanged")
    assert.ok(outcome.ran && outcome.tenant !== source, 'the copy, not the source\'s object')
  })

  it('refuses to enqueue with no tenant in scope, and in a system scope, with TENANT_CONTEXT_MISSING', async () => {
    const jobs = new JobTenancy({ tenants: jobTenants().source })
    assert.throws(() => jobs.envelope({ a: 1 }), expectCode('TENANT_CONTEXT_MISSING'))
    await runAsSystem('test: enqueue', () => assert.throws(() => jobs.envelope({ a: 1 }), expectCode('TENANT_CONTEXT_MISSING')))
  })

  it('runs an explicit system job in an audited system scope, and refuses one enqueued by a tenant', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const jobs = new JobTenancy({ tenants: dir.source })
    assert.throws(() => runWithTenant(acme, () => jobs.systemEnvelope('roll-up', {})), expectCode('TENANT_MISMATCH'))
    assert.throws(() => jobs.systemEnvelope('  ', {}), expectCode('VALIDATION_FAILED'))
    // The reason is written to the audit log when the job runs: checked as runAsSystem checks it.
    for (const reason of ['nightly \uD800', 'a\u0000b', 'x'.repeat(1001)]) assert.throws(() => jobs.systemEnvelope(reason, {}), expectCode('VALIDATION_FAILED'))
    const stored = jobs.systemEnvelope('nightly roll-up', { day: 1 })
    const reasons: string[] = []
    const stop = onSystemScope((event) => {
      reasons.push(event.reason)
    })
    try {
      const outcome = await jobs.run(stored, (_data, context) => {
        assert.throws(() => currentTenant(), expectCode('TENANT_CONTEXT_MISSING'))
        return { kind: currentScope()?.kind, reason: context.systemReason }
      })
      assert.deepEqual(outcome.ran && outcome.result, { kind: 'system', reason: 'nightly roll-up' })
      assert.ok(reasons.includes('nightly roll-up'))
    } finally {
      stop()
    }
  })

  it('refuses a payload that names another tenant at enqueue, and drops a stored one at run without calling the handler', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const globex = dir.add('globex')
    const jobs = new JobTenancy({ tenants: dir.source })
    assert.throws(() => runWithTenant(acme, () => jobs.envelope({ tenantId: globex.id })), expectCode('TENANT_MISMATCH'))
    assert.ok(runWithTenant(acme, () => jobs.envelope({ tenantId: acme.id })))
    // A forged job: acme's record with globex's id in the payload (written straight to the queue).
    const forged = { tenantry: { v: 1, scope: 'tenant', tenantId: acme.id, slug: 'acme' }, data: { tenant_id: globex.id } }
    let called = false
    const outcome = await jobs.run(forged, () => {
      called = true
    })
    assert.equal(called, false)
    assert.equal(outcome.ran, false)
    assert.equal(!outcome.ran && outcome.disposition, 'drop')
    assert.equal(!outcome.ran && outcome.error.code, 'TENANT_MISMATCH')
  })

  it('never runs a job that is not Tenantry\'s (no record, a malformed or unknown one)', async () => {
    const jobs = new JobTenancy({ tenants: jobTenants().source })
    // A system record whose reason the audit log cannot take (written by hand, or before the check) is dropped, not retried.
    const badReasons = [' ', 'x'.repeat(1001), 'nightly\u0000', 'lone \uD800'].map((reason) => ({ tenantry: { v: 1, scope: 'system', reason } }))
    for (const stored of [{ reportId: 1 }, null, 'x', { tenantry: { v: 2, scope: 'tenant' } }, { tenantry: { v: 1, scope: 'tenant', tenantId: 'acme' } }, { tenantry: { v: 1, scope: 'root' } }, ...badReasons]) {
      let called = false
      const outcome = await jobs.run(stored, () => {
        called = true
      })
      assert.equal(called, false, JSON.stringify(stored))
      assert.equal(!outcome.ran && outcome.disposition, 'drop')
      assert.equal(!outcome.ran && outcome.error.code, 'VALIDATION_FAILED')
      assert.equal(isJobEnvelope(stored), false)
    }
  })

  it('parks the job of a suspended or provisioning tenant, drops that of an offboarding, deleted or unknown one, and runs it once active again', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const jobs = new JobTenancy({ tenants: dir.source })
    const stored = runWithTenant(acme, () => jobs.envelope({}))
    let calls = 0
    const handler = (): void => {
      calls++
    }
    for (const [status, disposition] of [['suspended', 'park'], ['provisioning', 'park'], ['offboarding', 'drop'], ['deleted', 'drop']] as const) {
      dir.set(acme, status)
      const outcome = await jobs.run(stored, handler)
      assert.equal(!outcome.ran && outcome.disposition, disposition, status)
      assert.equal(!outcome.ran && outcome.error.code, status === 'deleted' ? 'TENANT_NOT_FOUND' : 'TENANT_SUSPENDED')
    }
    dir.set(acme, 'active')
    assert.equal((await jobs.run(stored, handler)).ran, true)
    dir.remove(acme)
    const gone = await jobs.run(stored, handler)
    assert.equal(!gone.ran && gone.error.code, 'TENANT_NOT_FOUND')
    assert.equal(calls, 1)
  })

  it('leaves a system worker\'s scope, and refuses to run another tenant\'s (or a system) job inside a tenant\'s scope', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const globex = dir.add('globex')
    const jobs = new JobTenancy({ tenants: dir.source })
    const stored = runWithTenant(acme, () => jobs.envelope({}))
    await assert.rejects(runWithTenant(globex, () => jobs.run(stored, () => currentTenant().slug)), expectCode('TENANT_CONTEXT_CONFLICT'))
    const system = jobs.systemEnvelope('x', {})
    await assert.rejects(runWithTenant(globex, () => jobs.run(system, () => 1)), expectCode('TENANT_CONTEXT_CONFLICT'))
    const same = await runWithTenant(acme, () => jobs.run(stored, () => currentTenant().slug))
    assert.equal(same.ran && same.result, 'acme')
    const lookups: (string | undefined)[] = []
    const spying = new JobTenancy({ tenants: { getById: async (id) => (lookups.push(currentScope()?.kind), dir.source.getById(id)) } })
    const fromSystem = await runAsSystem('worker boot', () => spying.run(stored, () => currentTenant().slug))
    assert.equal(fromSystem.ran && fromSystem.result, 'acme')
    assert.deepEqual(lookups, [undefined])
  })

  it('keeps the record\'s key to itself: a payload with "tenantry" is refused, a record only from own properties, payload tenant keys in any case', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const globex = dir.add('globex')
    const jobs = new JobTenancy({ tenants: dir.source })
    const forged = { tenantry: { v: 1, scope: 'system', reason: 'pwn' }, data: {} }
    assert.throws(() => runWithTenant(acme, () => jobs.envelope(forged)), expectCode('VALIDATION_FAILED'))
    assert.throws(() => jobs.systemEnvelope('x', { Tenantry: 1 }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => runWithTenant(acme, () => jobs.envelope({ TenantID: globex.id })), expectCode('TENANT_MISMATCH'))
    // A payload written back whole (job.updateData(payload)) has no record: dropped, never run.
    const writtenBack = await jobs.run({ reportId: 1 }, () => 1)
    assert.equal(!writtenBack.ran && writtenBack.disposition, 'drop')
    const proto = Object.prototype as Record<string, unknown>
    proto.tenantry = { v: 1, scope: 'system', reason: 'polluted' }
    proto.data = {}
    try {
      const outcome = await jobs.run({ x: 1 }, () => 'ran')
      assert.equal(outcome.ran, false, 'a polluted prototype supplies no record')
    } finally {
      delete proto.tenantry
      delete proto.data
    }
  })

  it('survives observers and listeners that reject (async hooks): no crash, no changed outcome', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const rejected: string[] = []
    process.on('unhandledRejection', (e) => rejected.push(String(e)))
    const jobs = new JobTenancy({ tenants: dir.source, observer: { end: async () => { throw new Error('async observer bug') } } })
    const stored = runWithTenant(acme, () => jobs.envelope({}))
    const outcome = await jobs.run(stored, () => 'done')
    assert.equal(outcome.ran && outcome.result, 'done')
    const handle = observeRequest({ start: async () => ({ end() {} }) } as never, { method: 'GET', route: '/x' })
    assert.equal(handle, undefined, 'an async start is no observation')
    const ending = observeRequest({ start: () => ({ end: async () => { throw new Error('async end bug') }, tenant: async () => { throw new Error('x') } }) }, { method: 'GET', route: '/x' })
    ending?.setTenant(acme as never)
    ending?.end(200)
    await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(rejected, [])
  })

  it('runs the handler chain exactly once whatever the observer\'s run does', () => {
    let calls = 0
    const chain = (): string => {
      calls++
      return 'chain'
    }
    for (const run of [
      () => 'not the chain',
      (fn: () => unknown) => { fn(); fn(); return 'twice' },
      (fn: () => unknown) => { fn(); throw new Error('after') },
      () => { throw new Error('before') },
    ]) {
      calls = 0
      const handle = observeRequest({ start: () => ({ run: run as never, end() {} }) }, { method: 'GET', route: '/x' })!
      assert.equal(handle.run(chain), 'chain')
      assert.equal(calls, 1)
    }
    const failing = observeRequest({ start: () => ({ run: ((fn: () => unknown) => { try { fn() } catch { return 'swallowed' } }) as never, end() {} }) }, { method: 'GET', route: '/x' })!
    assert.throws(() => failing.run(() => { throw new Error('handler error') }), /handler error/)
  })

  it('rethrows the handler\'s own error, and refuses job data that is not JSON', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const jobs = new JobTenancy({ tenants: dir.source })
    const stored = runWithTenant(acme, () => jobs.envelope({}))
    await assert.rejects(jobs.run(stored, () => {
      throw new Error('handler failed')
    }), /handler failed/)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.throws(() => runWithTenant(acme, () => jobs.envelope(cyclic)), expectCode('VALIDATION_FAILED'))
    assert.throws(() => runWithTenant(acme, () => jobs.envelope(() => 1)), expectCode('VALIDATION_FAILED'))
    assert.throws(() => new JobTenancy({} as never), expectCode('VALIDATION_FAILED'))
  })

  it('tells its observer how each job ended (tenant, queue, outcome, time), never the payload; a throwing observer changes nothing', async () => {
    const dir = jobTenants()
    const acme = dir.add('acme')
    const ended: JobOutcome[] = []
    const jobs = new JobTenancy({ tenants: dir.source, observer: { end: (o) => ended.push(o) } })
    const stored = runWithTenant(acme, () => jobs.envelope({ secret: 'payload' }))
    await jobs.run(stored, () => 1, { queue: 'reports' })
    await assert.rejects(jobs.run(stored, () => {
      throw new Error('handler failed')
    }, { queue: 'reports' }))
    dir.set(acme, 'suspended')
    await jobs.run(stored, () => 1, { queue: 'reports' })
    await jobs.run({ not: 'tenantry' }, () => 1)
    await jobs.run(jobs.systemEnvelope('roll-up', {}), () => 1, { queue: 'nightly' })
    assert.deepEqual(ended.map((o) => [o.tenant?.slug, o.queue, o.outcome]), [
      ['acme', 'reports', 'completed'], ['acme', 'reports', 'failed'], ['acme', 'reports', 'parked'], [undefined, 'unknown', 'dropped'], [undefined, 'nightly', 'completed'],
    ])
    for (const o of ended) {
      assert.deepEqual(Object.keys(o).sort(), ['durationMs', 'outcome', 'queue', 'tenant'])
      assert.ok(o.durationMs >= 0)
    }
    const throwing = new JobTenancy({ tenants: dir.source, observer: { end: () => { throw new Error('observer bug') } } })
    dir.set(acme, 'active')
    const outcome = await throwing.run(stored, () => 'done')
    assert.equal(outcome.ran && outcome.result, 'done')
  })
})
