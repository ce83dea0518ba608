import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  assertServing,
  assertTransition,
  canTransition,
  isSlug,
  isTenantryError,
  isUuid,
  parseNewTenant,
  PlanRegistry,
  parseTenantPatch,
  slugProblem,
  tenantStatuses,
  TenantryError,
} from '@tenantry/core'

/** Settings `levels` objects deep ({ a: { a: … } }). */
function nested(levels: number): Record<string, unknown> {
  const top: Record<string, unknown> = {}
  let node = top
  for (let i = 1; i < levels; i++) node = (node.a = {}) as Record<string, unknown>
  return top
}

describe('slugs', () => {
  it('accepts lowercase letters, digits and inner hyphens up to 63 characters', () => {
    for (const ok of ['a', 'acme', 'acme-2', '9lives', 'a'.repeat(63)]) assert.equal(slugProblem(ok), undefined, ok)
  })
  it('rejects malformed and reserved slugs with a reason', () => {
    for (const bad of ['', 'A', '-acme', 'acme-', 'ac_me', 'ac.me', 'a'.repeat(64), 'www', 'admin', 'public', 'tenantry', 'pg-catalog', 'information_schema', 'é']) {
      assert.equal(isSlug(bad), false, bad)
      assert.equal(typeof slugProblem(bad), 'string')
    }
    assert.equal(isSlug(42), false)
  })
})

describe('uuids', () => {
  it('accepts canonical UUIDs only', () => {
    assert.equal(isUuid('6f1c2a8e-9b7d-4e3f-8a2b-1c0d9e8f7a6b'), true)
    assert.equal(isUuid('6f1c2a8e9b7d4e3f8a2b1c0d9e8f7a6b'), false)
    assert.equal(isUuid("' or 1=1 --"), false)
  })
})

describe('lifecycle', () => {
  it('allows exactly the documented transitions', () => {
    const allowed = new Set(['provisioning>active', 'provisioning>offboarding', 'active>suspended', 'active>offboarding', 'suspended>active', 'suspended>offboarding', 'offboarding>deleted'])
    for (const from of tenantStatuses) {
      for (const to of tenantStatuses) {
        assert.equal(canTransition(from, to), allowed.has(`${from}>${to}`), `${from} -> ${to}`)
      }
    }
  })
  it('throws CONFLICT naming the allowed targets for a forbidden transition', () => {
    assert.throws(() => assertTransition('deleted', 'active'), (e: unknown) => isTenantryError(e, 'CONFLICT') && /final state/.test(e.message))
    assert.throws(() => assertTransition('active', 'deleted'), (e: unknown) => isTenantryError(e, 'CONFLICT') && /"suspended"/.test(e.message))
  })
  it('lets only active tenants serve', () => {
    assert.doesNotThrow(() => assertServing({ slug: 'a', status: 'active' }))
    for (const status of ['provisioning', 'suspended', 'offboarding', 'deleted'] as const) {
      assert.throws(() => assertServing({ slug: 'a', status }), (e: unknown) => isTenantryError(e, 'TENANT_SUSPENDED') && e.status === 403)
    }
  })
})

describe('tenant input', () => {
  it('lists every problem of a bad new tenant at once', () => {
    try {
      parseNewTenant({ slug: 'WWW', name: '', isolation: 'cluster', plan: 'Gold Plan', extra: 1, domains: ['not a domain'] })
      assert.fail('expected VALIDATION_FAILED')
    } catch (e) {
      assert.ok(e instanceof TenantryError)
      assert.equal(e.code, 'VALIDATION_FAILED')
      assert.equal(e.status, 400)
      const paths = (e.details as { path: string }[]).map((d) => d.path).sort()
      assert.deepEqual(paths, ['domains.0', 'extra', 'isolation', 'name', 'plan', 'slug'])
    }
  })
  it('accepts a well-formed new tenant and patch', () => {
    assert.deepEqual(parseNewTenant({ slug: 'acme', name: 'Acme', isolation: 'schema', domains: ['app.acme.com'] }).slug, 'acme')
    assert.deepEqual(parseTenantPatch({ plan: 'pro' }), { plan: 'pro' })
  })
  it('rejects non-objects and unknown patch fields', () => {
    assert.throws(() => parseNewTenant('acme'), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => parseTenantPatch({ slug: 'x' }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => parseTenantPatch({ settings: [] }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
  it('refuses settings nested past 32 levels (a tenant scope could never hold them) and takes 32', () => {
    assert.deepEqual(parseTenantPatch({ settings: nested(32) }).settings, nested(32))
    for (const settings of [nested(33), nested(70)]) {
      assert.throws(() => parseTenantPatch({ settings }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /nested at most 32 levels deep/.test(e.message))
      assert.throws(() => parseNewTenant({ slug: 'acme', name: 'Acme', settings }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.throws(() => parseTenantPatch({ settings: cyclic }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })

  it('checks the settings as they will be stored (serialised once): a toJSON or a getter cannot pass a shallow tree and store a deep one', () => {
    const deep = /nested at most 32 levels deep/
    assert.throws(() => parseNewTenant({ slug: 'acme', name: 'Acme', settings: { theme: { toJSON: () => nested(100) } } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && deep.test(e.message))
    let reads = 0
    const shifty = { get theme() { return ++reads === 1 ? { shallow: true } : nested(100) } }
    assert.deepEqual(parseTenantPatch({ settings: shifty }).settings, { theme: { shallow: true } }, 'the one answer read is what is checked and stored')
    assert.equal(reads, 1)
    // What is returned is the tree that was checked: plain data, read once, not the caller's object.
    let slugReads = 0
    const input = { get slug() { return ++slugReads === 1 ? 'acme' : 'NOT A SLUG' }, name: 'Acme', settings: { theme: { toJSON: () => 'dark' }, when: new Date(0) } }
    const parsed = parseNewTenant(input)
    assert.deepEqual(parsed, { slug: 'acme', name: 'Acme', settings: { theme: 'dark', when: '1970-01-01T00:00:00.000Z' } })
    assert.equal(parsed.slug, 'acme', 'each field is read once: a getter cannot answer the catalog something else')
    const patch = { settings: { a: 1 } }
    assert.notEqual(parseTenantPatch(patch).settings, patch.settings)
    assert.deepEqual(parseTenantPatch({}), {})
    assert.throws(() => parseTenantPatch({ settings: { n: 1n } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /must be JSON data/.test(e.message))
    assert.throws(() => parseTenantPatch({ settings: { toJSON: () => [1] } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /JSON object/.test(e.message))
  })

  it('refuses what PostgreSQL could not store or later code could misread, and every unreadable input, as VALIDATION_FAILED', () => {
    const invalid = (pattern: RegExp) => (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && pattern.test(e.message)
    // NUL and lone surrogates: jsonb and text refuse them (or store them changed).
    for (const text of ['a\u0000b', 'x\uD800', '\uDC00y']) {
      assert.throws(() => parseTenantPatch({ settings: { note: text } }), invalid(/NUL character or half of a surrogate pair/))
      assert.throws(() => parseTenantPatch({ settings: { [text]: 1 } }), invalid(/NUL character/))
      assert.throws(() => parseTenantPatch({ name: `Acme ${text}` }), invalid(/NUL character/))
    }
    assert.deepEqual(parseTenantPatch({ name: 'Acme 😀', settings: { emoji: '😀' } }), { name: 'Acme 😀', settings: { emoji: '😀' } }, 'a whole surrogate pair is fine')
    // A boxed String becomes text by its own toString, after any check: not JSON data.
    const boxed = Object.assign(new String('fine'), { toString: () => 'evil\u0000' })
    for (const value of [new String('x\u0000y'), boxed, new Number(1), new Boolean(true)]) {
      assert.throws(() => parseTenantPatch({ settings: { value } }), invalid(/boxed String/))
    }
    // A getter's own TenantryError is not passed on as if it were the parser's (a 403, a 409 ...).
    const forged = { get name() { throw new TenantryError('TENANT_SUSPENDED', 'forged') } }
    assert.throws(() => parseTenantPatch(forged), invalid(/fields can be read/))
    // Keys that reach a prototype when merged later.
    const keys = JSON.parse('{"__proto__": {"isAdmin": true}, "nested": {"constructor": 1}}') as Record<string, unknown>
    assert.throws(() => parseTenantPatch({ settings: keys }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && (e.details as { path: string }[]).map((d) => d.path).join() === 'settings.__proto__,settings.nested.constructor')
    // Unreadable input: a revoked Proxy, a throwing getter or trap.
    const revoked = (): object => {
      const r = Proxy.revocable({}, {})
      r.revoke()
      return r.proxy
    }
    for (const input of [revoked(), { get name() { throw new Error('getter') } }, new Proxy({}, { ownKeys: () => { throw new Error('trap') } })]) {
      assert.throws(() => parseTenantPatch(input), invalid(/fields can be read|must be an object/))
    }
    assert.throws(() => parseTenantPatch({ settings: revoked() }), invalid(/settings/))
    assert.throws(() => parseNewTenant({ slug: 'acme', name: 'Acme', domains: revoked() }), invalid(/domains/))
    // The domain count read once, the list copied by index: an iterator or a Proxy cannot add more.
    const sneaky = ['a.example.com']
    ;(sneaky as unknown as { [Symbol.iterator]: unknown })[Symbol.iterator] = function* () { for (let i = 0; i < 5000; i++) yield `d${i}.example.com` }
    assert.deepEqual(parseNewTenant({ slug: 'acme', name: 'Acme', domains: sneaky }).domains, ['a.example.com'])
    let lengthReads = 0
    const growing = new Proxy(['a.example.com'], { get: (t, k) => (k === 'length' ? (++lengthReads === 1 ? 1 : 1000) : Reflect.get(t, k)) })
    assert.deepEqual(parseNewTenant({ slug: 'acme', name: 'Acme', domains: growing }).domains, ['a.example.com'])
    assert.throws(() => parseNewTenant({ slug: 'acme', name: 'Acme', domains: Array.from({ length: 21 }, (_, i) => `d${i}.example.com`) }), invalid(/at most 20/))
  })

  it('refuses huge sparse arrays and deeply shared settings at once, by their size, before walking them', () => {
    let level: unknown = 1
    for (let i = 0; i < 30; i++) level = [level, level]
    // One long string or key referred to many times: cheap to build, a huge text to serialise.
    const long = 'x'.repeat(1 << 20)
    const keyed = { [long]: 1 }
    for (const settings of [{ list: new Array(2 ** 28) }, { list: new Array(2 ** 32 - 1) }, { shared: level }, { many: new Array(600).fill(long) }, { many: new Array(600).fill(keyed) }]) {
      const started = performance.now()
      assert.throws(() => parseTenantPatch({ settings }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
      assert.ok(performance.now() - started < 5_000, 'refused without walking every slot or building the whole text')
    }
    // Stopped as soon as the count is over: values read one by one (getters) are not all read.
    const readsOf = (length: number, value: () => unknown): number => {
      let reads = 0
      const list: unknown[] = []
      for (let i = 0; i < length; i++) Object.defineProperty(list, i, { enumerable: true, get: () => (reads++, value()) })
      assert.throws(() => parseTenantPatch({ settings: { list } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /65,536 characters/.test(e.message))
      return reads
    }
    assert.ok(readsOf(100_000, () => 0) <= 32_770, 'stopped at the values a 64 KiB text can hold')
    assert.equal(readsOf(600, () => long), 1, 'stopped at the first string past 64 KiB')
    // The limit is exact: JSON of 65,536 characters is taken, of 65,537 refused (the count had the root's empty key as 3 more).
    const atLimit = { k: 'v'.repeat(65_528) }
    assert.equal(JSON.stringify(atLimit).length, 65_536)
    assert.deepEqual(parseTenantPatch({ settings: atLimit }).settings, atLimit)
    const overLimit = { k: 'v'.repeat(65_529) }
    assert.throws(() => parseTenantPatch({ settings: overLimit }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /65,536 characters/.test(e.message))
    // Keys JSON leaves out (undefined, a function) are not counted: what is stored is {"k":"v"}.
    assert.deepEqual(parseTenantPatch({ settings: { ['x'.repeat(70_000)]: undefined, f: () => 1, k: 'v' } }).settings, { k: 'v' })
  })
})

describe('PlanRegistry errors', () => {
  it('keeps its validation error small whatever the settings: thousands of unknown override keys, or one huge key', () => {
    const plans = new PlanRegistry({ free: { rateLimit: { limit: 100, windowMs: 60_000 } } })
    const many = Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`k${i}`, 1]))
    const huge = { [`${'k'.repeat(60_000)}`]: 1 }
    for (const rateLimit of [many, huge]) {
      assert.throws(() => plans.assertValid({ plan: 'free', settings: { rateLimit } }), (e: unknown) => {
        assert.ok(isTenantryError(e, 'VALIDATION_FAILED'))
        const details = e.details as { path: string }[]
        assert.ok(details.length <= 50 && details.every((d) => d.path.length <= 200), String(details.length))
        assert.ok(e.message.length < 8000 && e.message.startsWith('Invalid plan or settings: '), String(e.message.length))
        return true
      })
    }
  })
})
