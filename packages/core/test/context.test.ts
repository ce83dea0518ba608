import assert from 'node:assert/strict'
import { AsyncResource } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { types } from 'node:util'
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
    // A lazy Promise subclass (it runs when then is first called) and a function with a then are started here too.
    class LazyPromise<T> extends Promise<T> {
      static override get [Symbol.species]() {
        return Promise
      }
      readonly #run: () => T
      #started: Promise<T> | undefined
      constructor(run: () => T) {
        super((resolve) => resolve(undefined as T))
        this.#run = run
      }
      override then<A = T, B = never>(ok?: ((value: T) => A | PromiseLike<A>) | null, bad?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
        this.#started ??= new Promise<T>((resolve) => resolve(this.#run()))
        return this.#started.then(ok, bad)
      }
    }
    const subclass = runWithTenant(acme, () => new LazyPromise(() => tryCurrentTenant()?.slug))
    const callable = runWithTenant(acme, () => Object.assign(() => undefined, { then: (resolve: (slug: string | undefined) => void) => resolve(tryCurrentTenant()?.slug) }))
    assert.deepEqual(await Promise.all([subclass, callable]), ['acme', 'acme'])
    // Nor can a thenable pass for a native Promise: made from Promise.prototype, or a Proxy claiming its prototype.
    const forged = Object.assign(Object.create(Promise.prototype) as object, { then: (resolve: (slug: string | undefined) => void) => resolve(tryCurrentTenant()?.slug) })
    const proxied = new Proxy({ then: (resolve: (slug: string | undefined) => void) => resolve(tryCurrentTenant()?.slug) }, { getPrototypeOf: () => Promise.prototype })
    assert.deepEqual(await Promise.all([runWithTenant(acme, () => forged), runWithTenant(acme, () => proxied)]), ['acme', 'acme'])
    // Anything else is returned as it is, a native Promise and a plain function included.
    const value = { plain: true }
    assert.equal(runWithTenant(acme, () => value), value)
    const native = Promise.resolve(1)
    assert.equal(runWithTenant(acme, () => native), native)
    const fn = (): number => 1
    assert.equal(runWithTenant(acme, () => fn), fn)
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

  it('keeps its dates fixed even against Date.prototype setters called on them, and they are still real dates', () => {
    const a = catalogTenant('acme')
    const copy = runWithTenant(a, () => currentTenant()) as unknown as CatalogTenant
    const date = copy.createdAt
    const at = Date.UTC(2024, 0, 2, 3, 4, 5)
    // A real Date's time lives in a slot that Object.freeze cannot reach: Date.prototype's setter still
    // writes it, but no method of the date reads it, and entering a scope again puts it back.
    Date.prototype.setTime.call(date, 0)
    assert.equal(date.getTime(), at)
    assert.equal(date.toISOString(), '2024-01-02T03:04:05.000Z')
    assert.equal(+date, at)
    assert.equal(JSON.stringify({ date }), '{"date":"2024-01-02T03:04:05.000Z"}')
    assert.equal(runWithTenant(copy, () => Date.prototype.getTime.call(scoped().createdAt)), at, 'the slot is put back on entry')
    assert.equal(new Date(date).getTime(), at)
    assert.equal(structuredClone(date).getTime(), at)
    // Still a real Date for whatever checks: pg, util.types, the builtin tag; every reader works.
    assert.ok(date instanceof Date && types.isDate(date))
    assert.equal(Object.prototype.toString.call(date), '[object Date]')
    assert.equal(date.valueOf(), at)
    assert.equal(date.getUTCFullYear(), 2024)
    assert.equal(String(date), new Date(at).toString())
    assert.equal(`${date}`, new Date(at).toString())
    assert.equal(date + '', new Date(at).toString())
    assert.ok(date < new Date(at + 1) && date > new Date(at - 1))
    assert.throws(() => date.setTime(0), TypeError)
    // Its methods refuse another object; its prototype is frozen.
    assert.throws(() => date.getTime.call(new Date(0)), TypeError)
    assert.ok(Object.isFrozen(Object.getPrototypeOf(date)))
    // Cloned through its constructor (date-fns, lodash), it gives a plain Date to change.
    assert.equal(date.constructor, Date)
    const clone = new (date.constructor as DateConstructor)(+date)
    clone.setUTCDate(clone.getUTCDate() + 30)
    assert.equal(clone.toISOString(), '2024-02-01T03:04:05.000Z')
    assert.equal(date.getTime(), at)
    // Swapping Date.prototype's readers (toISOString, valueOf, toString) changes none of its own.
    const { toISOString, valueOf } = Date.prototype
    try {
      Date.prototype.toISOString = () => '1999-09-09T00:00:00.000Z'
      Date.prototype.valueOf = () => 0
      assert.equal(JSON.stringify({ date }), '{"date":"2024-01-02T03:04:05.000Z"}')
      assert.equal(+date, at)
    } finally {
      Date.prototype.toISOString = toISOString
      Date.prototype.valueOf = valueOf
    }
    // Entered again (a frozen date as input), it keeps its time.
    assert.equal(runWithTenant({ ...a, createdAt: date } as CatalogTenant, () => scoped().createdAt.getTime()), at)
  })

  it('keeps nothing of a shared global slot: marking an object as checked through globalThis does not skip the copy', () => {
    const slots = [Symbol.for('tenantry.context.frozen-tenants'), Symbol.for('tenantry.context.last-frozen-copy')]
    const global = globalThis as unknown as Record<symbol, unknown>
    const forged = { id: 'not-a-uuid', slug: 'acme', status: 'bogus', placement: { schema: 't_acme' } } as unknown as ScopedTenant
    const everything = { has: () => true, get: () => forged, add: () => undefined, set: () => undefined }
    try {
      global[slots[0]!] = everything
      global[slots[1]!] = everything
      assert.throws(() => runWithTenant(forged, () => undefined), expectCode('VALIDATION_FAILED'))
      const valid = catalogTenant('acme')
      const copy = runWithTenant(valid, () => currentTenant())
      assert.notEqual(copy, valid)
      assert.ok(Object.isFrozen(copy))
    } finally {
      for (const slot of slots) delete global[slot]
    }
  })

  it('refuses what it cannot copy safely (an unreadable value, nesting too deep, a sparse array) with VALIDATION_FAILED naming the path', () => {
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    let deep: Record<string, unknown> = {}
    const root = deep
    for (let i = 0; i < 100; i++) deep = (deep.next = {}) as Record<string, unknown>
    const holes: unknown[] = ['a']
    holes[2] = 'c'
    const huge: unknown[] = []
    huge.length = 2 ** 32 - 1
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ settings: { gone: proxy } }, 'tenant.settings.gone', /could not be read/],
      [{ settings: { get boom() { throw new Error('no') } } }, 'tenant.settings.boom', /could not be read \(no\)/],
      [{ settings: root }, 'tenant.settings.next', /nested more than 64 levels deep/],
      [{ domains: holes }, 'tenant.domains[1]', /empty slot of a sparse array/],
      [{ domains: huge }, 'tenant.domains[0]', /empty slot of a sparse array/],
    ]
    for (const [extra, path, message] of cases) {
      assert.throws(
        () => runWithTenant({ ...catalogTenant('acme'), ...extra } as ScopedTenant, () => undefined),
        (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && e.message.includes(path) && message.test(e.message),
        path,
      )
    }
    // A tenant that is itself unreadable is refused the same way.
    assert.throws(() => runWithTenant(proxy as ScopedTenant, () => undefined), expectCode('VALIDATION_FAILED'))
    // And one whose getter throws something that cannot even be described (its toString throws, or a revoked Proxy).
    const revoked = Proxy.revocable({}, {})
    revoked.revoke()
    for (const thrown of [{ toString: () => { throw revoked.proxy } }, revoked.proxy]) {
      const odd = Object.defineProperty({ ...catalogTenant('acme') }, 'plan', { enumerable: true, get: () => { throw thrown } })
      assert.throws(() => runWithTenant(odd, () => undefined), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /tenant\.plan could not be read/.test(e.message))
    }
  })

  it('refuses a tenant nested past 64 levels through a part it met before, and a Proxy array claiming a huge length', () => {
    // Blocks of 40 levels, the innermost object of each holding the block before: 80 levels through a shared part.
    const block = (inner: unknown): Record<string, unknown> => {
      const top: Record<string, unknown> = {}
      let node = top
      for (let i = 0; i < 39; i++) node = (node.next = {}) as Record<string, unknown>
      node.inner = inner
      return top
    }
    const first = block('leaf')
    const nested = { ...catalogTenant('acme'), settings: { a: first, b: block(first) } }
    assert.throws(() => runWithTenant(nested, () => undefined), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /nested more than 64 levels deep/.test(e.message))
    const endless = new Proxy([], { get: (target, key) => (key === 'length' ? 2 ** 32 - 1 : key in target ? Reflect.get(target, key) : 'x'), has: () => true })
    assert.throws(() => runWithTenant({ ...catalogTenant('acme'), domains: endless } as ScopedTenant, () => undefined), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /more than 100000 values/.test(e.message))
  })

  it('compares a changed caller object with its copy in linear time', () => {
    // Two equal nodes per level, each holding both of the level below (40 levels, 80 nodes, 2^40 paths) ...
    let f: unknown[] = ['leaf']
    let g: unknown[] = ['leaf']
    for (let i = 0; i < 40; i++) [f, g] = [[f, g], [f, g]]
    const a = { ...catalogTenant('acme'), settings: { tree: f as unknown } }
    const copy = runWithTenant(a, () => currentTenant())
    // ... then one node per level, holding the one below twice: the same data, a different sharing.
    let v: unknown[] = ['leaf']
    for (let i = 0; i < 40; i++) v = [v, v]
    a.settings.tree = v
    const again = runWithTenant(a, () => currentTenant()) as unknown as { settings: { tree: unknown[] } }
    assert.notEqual(again, copy, 'copied again (the caller changed its object), not compared path by path')
    assert.equal(again.settings.tree[0], again.settings.tree[1])
  })

  it('copies a part met twice once, however often it is shared (no blow-up), and compares it once', () => {
    // 40 levels, each holding the level below twice: 2^40 paths, 41 objects.
    let node: unknown[] = ['leaf']
    for (let i = 0; i < 40; i++) node = [node, node]
    const a = { ...catalogTenant('acme'), settings: { tree: node } }
    const copy = runWithTenant(a, () => currentTenant()) as unknown as { settings: { tree: unknown[] } }
    assert.equal(copy.settings.tree[0], copy.settings.tree[1], 'shared in the copy as in the original')
    assert.ok(Object.isFrozen(copy.settings.tree[0]))
    assert.equal(runWithTenant(a, () => currentTenant()), copy, 'compared, not copied again')
  })

  it('takes a tenant frozen by another loaded copy of core (a bundled adapter), its dates included', async () => {
    const second = (await import(`../src/context/tenant-context.ts?copy=${randomUUID()}`)) as typeof import('../src/context/tenant-context.ts')
    const a = catalogTenant('acme')
    const theirs = second.runWithTenant(a, () => second.currentTenant()) as unknown as CatalogTenant
    // Both copies share one store: the other copy's scope is seen here.
    assert.equal(second.runWithTenant(a, () => currentTenant().id), a.id)
    const ours = runWithTenant(theirs, () => currentTenant()) as unknown as CatalogTenant
    assert.notEqual(ours, theirs, 'copied once here: this copy of core trusts only its own copies')
    assert.equal(ours.createdAt.getTime(), a.createdAt.getTime())
    assert.throws(() => ours.createdAt.setTime(0), TypeError)
    // The other copy's date with its slot changed: this copy reads the time the other made it with.
    Date.prototype.setTime.call(theirs.updatedAt, 0)
    assert.equal(runWithTenant({ ...theirs }, () => scoped().updatedAt.getTime()), a.updatedAt.getTime())
    assert.equal(runWithTenant(theirs, () => currentTenant()), ours, 'and compared, not copied, after that')
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

  it('requires a reason, and checks it and the actor as the audit log takes them: at most 1,000 and 200 characters, no NUL, no half surrogate pair', async () => {
    let ran = 0
    const work = (): number => ++ran
    for (const [reason, actor] of [['  ', undefined], ['a\u0000b', undefined], ['bulk import \uD800', undefined], ['x'.repeat(1001), undefined], ['ok', 'job\uDC00'], ['ok', 'x'.repeat(201)], ['ok', '']] as const) {
      await assert.rejects(runAsSystem(reason, work, actor === undefined ? {} : { actor }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /audit log/.test((e as Error).message), JSON.stringify([reason.slice(0, 20), actor?.slice(0, 20)]))
    }
    assert.equal(ran, 0, 'refused before the work ran')
    assert.equal(await runAsSystem('x'.repeat(1000), work, { actor: 'ops:😀'.padEnd(200, '.') }), 1)
  })

  it('lets tenant work be entered from a system scope', async () => {
    const slug = await runAsSystem('fan-out', () => runWithTenant(globex, () => currentTenant().slug))
    assert.equal(slug, 'globex')
  })
})
