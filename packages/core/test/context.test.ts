import assert from 'node:assert/strict'
import { AsyncResource } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, it } from 'node:test'
import {
  currentScope,
  currentTenant,
  isTenantryError,
  onSystemScope,
  runAsSystem,
  runWithTenant,
  tryCurrentTenant,
  type ScopedTenant,
} from '@tenantry/core'

const tenant = (slug: string): ScopedTenant => ({ id: randomUUID(), slug, status: 'active' })
const acme = tenant('acme')
const globex = tenant('globex')

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isTenantryError(e) && e.code === code)
}

describe('tenant context', () => {
  it('throws TENANT_CONTEXT_MISSING from currentTenant() outside any scope', () => {
    assertCode(() => currentTenant(), 'TENANT_CONTEXT_MISSING')
    assert.equal(tryCurrentTenant(), undefined)
    assert.equal(currentScope(), undefined)
  })

  it('gives the tenant to code inside runWithTenant and returns fn\'s value', () => {
    const result = runWithTenant(acme, () => currentTenant().slug)
    assert.equal(result, 'acme')
  })

  it('keeps the tenant across await chains, timers and microtasks', async () => {
    await runWithTenant(acme, async () => {
      await sleep(1)
      assert.equal(currentTenant().id, acme.id)
      await new Promise<void>((resolve) => setTimeout(() => {
        assert.equal(currentTenant().id, acme.id)
        resolve()
      }, 1))
      await new Promise<void>((resolve) => setImmediate(() => {
        assert.equal(currentTenant().id, acme.id)
        resolve()
      }))
      await new Promise<void>((resolve) => queueMicrotask(() => {
        assert.equal(currentTenant().id, acme.id)
        resolve()
      }))
      await new Promise<void>((resolve) => process.nextTick(() => {
        assert.equal(currentTenant().id, acme.id)
        resolve()
      }))
    })
  })

  it('keeps the tenant in emitter listeners bound with AsyncResource', async () => {
    const emitter = new EventEmitter()
    const seen: string[] = []
    runWithTenant(acme, () => {
      emitter.on('tick', AsyncResource.bind(() => seen.push(currentTenant().slug)))
    })
    runWithTenant(globex, () => {
      emitter.on('tick', AsyncResource.bind(() => seen.push(currentTenant().slug)))
    })
    // Emitted from outside any scope: each bound listener still sees its own tenant.
    emitter.emit('tick')
    assert.deepEqual(seen, ['acme', 'globex'])
  })

  it('keeps the tenant through a stream pipeline', async () => {
    const seen: string[] = []
    await runWithTenant(acme, async () => {
      const upper = new Transform({
        transform(chunk, _enc, done) {
          seen.push(currentTenant().slug)
          done(null, String(chunk).toUpperCase())
        },
      })
      const source = Readable.from(['a', 'b', 'c'])
      const chunks: string[] = []
      upper.on('data', (c) => chunks.push(String(c)))
      await pipeline(source, upper)
      assert.deepEqual(chunks, ['A', 'B', 'C'])
    })
    assert.deepEqual(seen, ['acme', 'acme', 'acme'])
  })

  it('refuses to enter another tenant inside a tenant scope unless switch is asked for', () => {
    runWithTenant(acme, () => {
      assertCode(() => runWithTenant(globex, () => 1), 'TENANT_CONTEXT_CONFLICT')
      assert.equal(runWithTenant(acme, () => currentTenant().slug), 'acme')
      assert.equal(runWithTenant(globex, () => currentTenant().slug, { switch: true }), 'globex')
      assert.equal(currentTenant().slug, 'acme')
    })
  })

  it('rejects a malformed tenant with VALIDATION_FAILED before running anything', () => {
    let ran = false
    assertCode(() => runWithTenant({ id: 'not-a-uuid', slug: 'x', status: 'active' }, () => { ran = true }), 'VALIDATION_FAILED')
    assertCode(() => runWithTenant({ id: randomUUID(), slug: '', status: 'active' }, () => { ran = true }), 'VALIDATION_FAILED')
    assertCode(() => runWithTenant({ id: randomUUID(), slug: 'x', status: 'zombie' as never }, () => { ran = true }), 'VALIDATION_FAILED')
    assert.equal(ran, false)
  })

  it('never shows one task another\'s tenant across 1,000 interleaved concurrent tasks', async () => {
    const tenants = Array.from({ length: 20 }, (_, i) => tenant(`t${i}`))
    let mismatches = 0
    await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const mine = tenants[Math.floor(Math.random() * tenants.length)]!
      await runWithTenant(mine, async () => {
        for (let step = 0; step < 5; step++) {
          if (Math.random() < 0.5) await sleep(Math.floor(Math.random() * 3))
          else await new Promise((r) => setImmediate(r))
          if (currentTenant().id !== mine.id) mismatches++
        }
        const emitter = new EventEmitter()
        const got = once(emitter, 'done')
        setTimeout(() => emitter.emit('done', currentTenant().id), i % 3)
        const [fromTimer] = await got
        if (fromTimer !== mine.id) mismatches++
      })
    }))
    assert.equal(mismatches, 0)
  })
})

describe('system scope', () => {
  it('runs audited work with no tenant and records the reason first', async () => {
    const events: { reason: string; actor: string | undefined; from: string | undefined }[] = []
    const off = onSystemScope((e) => {
      events.push({ reason: e.reason, actor: e.actor, from: e.enteredFrom?.slug })
    })
    try {
      const scopeKind = await runAsSystem('usage report', () => {
        assertCode(() => currentTenant(), 'TENANT_CONTEXT_MISSING')
        assert.equal(events.length, 1, 'recorded before the work ran')
        return currentScope()?.kind
      }, { actor: 'cron' })
      assert.equal(scopeKind, 'system')
      await runWithTenant(acme, () => runAsSystem('support lookup', () => undefined))
      assert.deepEqual(events, [
        { reason: 'usage report', actor: 'cron', from: undefined },
        { reason: 'support lookup', actor: undefined, from: 'acme' },
      ])
    } finally {
      off()
    }
  })

  it('does not run the work when an audit sink fails', async () => {
    const off = onSystemScope(async () => {
      throw new Error('audit store down')
    })
    let ran = false
    try {
      await assert.rejects(runAsSystem('anything', () => { ran = true }), /audit store down/)
      assert.equal(ran, false)
    } finally {
      off()
    }
  })

  it('requires a reason', async () => {
    await assert.rejects(runAsSystem('  ', () => 1), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })

  it('lets tenant work be entered from a system scope', async () => {
    const slug = await runAsSystem('fan-out', () => runWithTenant(globex, () => currentTenant().slug))
    assert.equal(slug, 'globex')
  })
})
