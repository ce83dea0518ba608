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
  type Tenant,
} from '@tenantry/core'
import { expectCode } from '@tenantry/test-kit'

const tenant = (slug: string): ScopedTenant => ({ id: randomUUID(), slug, status: 'active' })
const acme = tenant('acme')
const globex = tenant('globex')

describe('tenant context', () => {
  it('throws TENANT_CONTEXT_MISSING from currentTenant() outside any scope', () => {
    assert.throws(() => currentTenant(), expectCode('TENANT_CONTEXT_MISSING'))
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

  it('starts a lazy thenable fn returns (a Prisma or Drizzle query) inside the scope, not where the caller awaits it', async () => {
    let runs = 0
    const lazy = { then: (resolve: (slug: string | undefined) => void) => { runs++; resolve(tryCurrentTenant()?.slug) } } as unknown as PromiseLike<string | undefined>
    assert.equal(await runWithTenant(acme, () => lazy), 'acme')
    const lazyKind = { then: (resolve: (kind: string | undefined) => void) => resolve(currentScope()?.kind) } as unknown as Promise<string | undefined>
    assert.equal(await runAsSystem('lazy thenable test', () => lazyKind), 'system')
    assert.equal(runs, 1)
    // Anything else is returned as it is.
    const value = { plain: true }
    assert.equal(runWithTenant(acme, () => value), value)
  })

  it('refuses to enter another tenant inside a tenant scope unless switch is asked for', () => {
    runWithTenant(acme, () => {
      assert.throws(() => runWithTenant(globex, () => 1), expectCode('TENANT_CONTEXT_CONFLICT'))
      assert.equal(runWithTenant(acme, () => currentTenant().slug), 'acme')
      assert.equal(runWithTenant(globex, () => currentTenant().slug, { switch: true }), 'globex')
      assert.equal(currentTenant().slug, 'acme')
    })
  })

  it('rejects a malformed tenant with VALIDATION_FAILED before running anything', () => {
    let ran = false
    assert.throws(() => runWithTenant({ id: 'not-a-uuid', slug: 'x', status: 'active' }, () => { ran = true }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => runWithTenant({ id: randomUUID(), slug: '', status: 'active' }, () => { ran = true }), expectCode('VALIDATION_FAILED'))
    assert.throws(() => runWithTenant({ id: randomUUID(), slug: 'x', status: 'zombie' as never }, () => { ran = true }), expectCode('VALIDATION_FAILED'))
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

/** A tenant as the catalog returns it: nested placement and settings, dates, an array of domains. */
type CatalogTenant = { -readonly [K in keyof Tenant]: Tenant[K] } & { placement: { schema?: string; server?: string }; settings: Record<string, any>; domains: string[] }
function catalogTenant(slug: string): CatalogTenant {
  return {
    id: randomUUID(), slug, name: slug, status: 'active', plan: 'pro', isolation: 'schema',
    placement: { schema: `t_${slug}`, server: 'main' },
    settings: { theme: { colors: ['red', 'blue'] }, limits: { seats: 5 } },
    createdAt: new Date('2024-01-02T03:04:05Z'), updatedAt: new Date('2024-02-03T04:05:06Z'),
    domains: [`tasks.${slug}.com`],
  }
}
/** What the scope's tenant looks like to code that ignores `readonly`. */
const scoped = () => currentTenant() as unknown as CatalogTenant

describe("the scope's tenant is a deep-frozen private copy", () => {
  it('throws on an assignment to currentTenant().placement.schema and keeps the schema', () => {
    const a = catalogTenant('acme')
    runWithTenant(a, () => {
      assert.throws(() => { scoped().placement.schema = 't_globex' }, TypeError)
      assert.throws(() => { delete scoped().placement.schema }, TypeError)
      assert.throws(() => { scoped().placement.server = 'other' }, TypeError)
      assert.throws(() => { scoped().placement = { schema: 't_globex' } }, TypeError)
      assert.equal(scoped().placement.schema, 't_acme')
    })
  })

  it('throws on changes anywhere below the tenant: settings, arrays, new properties', () => {
    runWithTenant(catalogTenant('acme'), () => {
      assert.throws(() => { scoped().settings.limits.seats = 1_000 }, TypeError)
      assert.throws(() => { scoped().settings.theme.colors.push('green') }, TypeError)
      assert.throws(() => { scoped().settings.theme.colors[0] = 'black' }, TypeError)
      assert.throws(() => { scoped().domains.push('tasks.globex.com') }, TypeError)
      assert.throws(() => { scoped().settings.extra = true }, TypeError)
      assert.throws(() => { Object.setPrototypeOf(scoped().placement, { schema: 't_globex' }) }, TypeError)
      assert.deepEqual(scoped().settings, { theme: { colors: ['red', 'blue'] }, limits: { seats: 5 } })
      assert.deepEqual(scoped().domains, ['tasks.acme.com'])
    })
  })

  it("does not see the caller's changes to its own object after entering", async () => {
    const a = catalogTenant('acme')
    await runWithTenant(a, async () => {
      a.placement.schema = 't_globex'
      a.settings.limits.seats = 1_000
      a.settings.theme.colors.push('green')
      a.domains.push('tasks.globex.com')
      a.slug = 'globex'
      await sleep(1)
      assert.equal(scoped().placement.schema, 't_acme')
      assert.equal(scoped().settings.limits.seats, 5)
      assert.deepEqual(scoped().settings.theme.colors, ['red', 'blue'])
      assert.deepEqual(scoped().domains, ['tasks.acme.com'])
      assert.equal(scoped().slug, 'acme')
    })
    // A later entry with the changed object runs for what it says now.
    assert.equal(runWithTenant(a, () => scoped().placement.schema), 't_globex')
  })

  it('copies dates, and the copies refuse to change', () => {
    const a = catalogTenant('acme')
    const created = a.createdAt.getTime()
    runWithTenant(a, () => {
      const date = scoped().createdAt
      assert.ok(date instanceof Date)
      assert.notEqual(date, a.createdAt)
      assert.equal(date.getTime(), created)
      a.createdAt.setTime(0)
      assert.equal(scoped().createdAt.getTime(), created)
      assert.throws(() => date.setTime(0), TypeError)
      assert.throws(() => date.setUTCFullYear(1999), TypeError)
      assert.equal(scoped().createdAt.toISOString(), '2024-01-02T03:04:05.000Z')
      assert.equal(JSON.stringify({ at: date }), '{"at":"2024-01-02T03:04:05.000Z"}')
    })
  })

  it('reuses its frozen copy when a scope tenant is entered again (no second copy)', () => {
    const a = catalogTenant('acme')
    const copy = runWithTenant(a, () => currentTenant())
    assert.notEqual(copy, a)
    assert.ok(Object.isFrozen(copy))
    assert.equal(runWithTenant(copy, () => currentTenant()), copy)
    runWithTenant(copy, () => {
      assert.equal(runWithTenant(currentTenant(), () => currentTenant()), copy)
    })
  })

  it('copies the same caller object once while it holds the same data, and again once it changed', () => {
    const a = catalogTenant('acme')
    const first = runWithTenant(a, () => currentTenant())
    assert.equal(runWithTenant(a, () => currentTenant()), first)
    assert.equal(runWithTenant({ ...a }, () => currentTenant().id), a.id)

    a.settings.limits.seats = 6
    const second = runWithTenant(a, () => currentTenant())
    assert.notEqual(second, first)
    assert.equal((second as unknown as CatalogTenant).settings.limits.seats, 6)
    assert.equal((first as unknown as CatalogTenant).settings.limits.seats, 5, 'an earlier copy never changes')

    a.createdAt.setTime(0)
    assert.equal(runWithTenant(a, () => scoped().createdAt.getTime()), 0)
    a.domains.push('tasks.acme.org')
    assert.deepEqual(runWithTenant(a, () => scoped().domains), ['tasks.acme.com', 'tasks.acme.org'])
    a.settings.cache = new Map()
    assert.throws(() => runWithTenant(a, () => 1), expectCode('VALIDATION_FAILED'))
  })

  it('still runs a nested runWithTenant with the same tenant object', () => {
    const a = catalogTenant('acme')
    runWithTenant(a, () => {
      assert.equal(runWithTenant(a, () => scoped().placement.schema), 't_acme')
      assert.equal(runWithTenant(a, () => runWithTenant(currentTenant(), () => currentTenant().slug)), 'acme')
      assert.equal(currentTenant().slug, 'acme')
    })
  })

  it('keeps a "__proto__" key of JSON settings as data, never as a prototype', () => {
    const a = { ...catalogTenant('acme'), settings: JSON.parse('{"__proto__": {"schema": "t_globex"}}') as Record<string, unknown> }
    runWithTenant(a, () => {
      const settings = scoped().settings
      assert.equal(Object.getPrototypeOf(settings), Object.prototype)
      assert.deepEqual(Object.keys(settings), ['__proto__'])
      assert.equal((settings as { schema?: string }).schema, undefined)
    })
  })

  it('validates the copy it keeps, not a second read of the original', () => {
    const id = randomUUID()
    let reads = 0
    const shifty = { slug: 'acme', status: 'active' as const, get id() { return reads++ === 0 ? id : 'not-a-uuid' } }
    assert.equal(runWithTenant(shifty, () => currentTenant().id), id)
    assert.equal(reads, 1)
  })

  it('rejects what it cannot freeze (functions, Maps, Sets, class instances, cycles) with VALIDATION_FAILED naming the path', () => {
    class Money { amount = 5 }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const shared = { seats: 5 }
    const cases: [Record<string, unknown>, string][] = [
      [{ settings: { hooks: { onSave() {} } } }, 'tenant.settings.hooks.onSave'],
      [{ settings: { cache: new Map() } }, 'tenant.settings.cache'],
      [{ domains: ['tasks.acme.com', new Set()] }, 'tenant.domains[1]'],
      [{ settings: { price: new Money() } }, 'tenant.settings.price'],
      [{ settings: { 'odd key': new Uint8Array(2) } }, 'tenant.settings["odd key"]'],
      [{ settings: cyclic }, 'tenant.settings.self'],
      [{ audit: () => {} }, 'tenant.audit'],
    ]
    for (const [extra, path] of cases) {
      let ran = false
      assert.throws(
        () => runWithTenant({ ...catalogTenant('acme'), ...extra } as ScopedTenant, () => { ran = true }),
        (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && e.message.includes(path),
        path,
      )
      assert.equal(ran, false)
    }
    // The same object twice is no cycle.
    const twice: CatalogTenant = { ...catalogTenant('acme'), settings: { a: shared, b: shared } }
    assert.equal(runWithTenant(twice, () => scoped().settings.b.seats), 5)
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
        assert.throws(() => currentTenant(), expectCode('TENANT_CONTEXT_MISSING'))
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
