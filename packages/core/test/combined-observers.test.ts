/**
 * combineObservers / combineQueryObservers: several observers as one. Each
 * request reaches exactly the observations its observers started, whatever
 * they share, skip, throw or start meanwhile; shared observations are joined
 * once and given again (nothing allocated per request).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RequestHandle, TenantryError, callSafely, combineObservers, currentScope, currentTenant, runWithTenant, combineQueryObservers, observeRequest, steadyObserver, type RequestOutcome, type RequestObservation, type RequestObserver, type ScopedTenant, type Tenant } from '@tenantry/core'

const acme = { id: '0194b1c2-0000-7000-8000-000000000001', slug: 'acme', status: 'active', isolation: 'shared' } as unknown as Tenant
const request = { method: 'GET', route: '/api/x' }

/** An observer handing out one shared observation that logs what it saw. */
function shared(name: string, log: string[]): RequestObserver {
  const observation: RequestObservation = { end: (o) => log.push(`${name}:${o.status}`) }
  return { start: () => observation }
}

describe('combineObservers', () => {
  it('joins shared observations once: the same object every request, no tenant or run hook, each end once', () => {
    const log: string[] = []
    const combined = combineObservers(shared('metrics', log), shared('live', log))
    const first = combined.start(request)
    const second = combined.start(request)
    assert.ok(first !== undefined)
    assert.equal(first, second, 'the joined observation is given again')
    assert.equal(first.run, undefined, 'nothing wraps the handler: it runs directly')
    assert.equal(first.tenant, undefined)
    const handle = observeRequest(combined, request)
    assert.equal(handle?.wrapsHandler, false, 'an adapter may call the handler chain directly')
    handle?.setTenant(acme)
    assert.equal(handle?.run(() => 42), 42)
    handle?.end(200)
    handle?.end(500)
    assert.deepEqual(log, ['metrics:200', 'live:200'])
  })

  it('gives each request the observations started for it, when one observer makes a new one per request or skips some', () => {
    const ended: string[] = []
    let n = 0
    const perRequest: RequestObserver = {
      start: () => {
        const id = ++n
        // Skips every third request.
        if (id % 3 === 0) return undefined
        return { tenant: (t) => ended.push(`tenant${id}:${t.slug}`), end: (o) => ended.push(`req${id}:${o.status}`) }
      },
    }
    const log: string[] = []
    const combined = combineObservers(shared('metrics', log), perRequest)
    const handles = [1, 2, 3, 4].map(() => observeRequest(combined, request))
    handles.forEach((h, i) => {
      h?.setTenant(acme)
      h?.end(200 + i)
    })
    assert.deepEqual(ended, ['tenant1:acme', 'req1:200', 'tenant2:acme', 'req2:201', 'tenant4:acme', 'req4:203'])
    assert.deepEqual(log, ['metrics:200', 'metrics:201', 'metrics:202', 'metrics:203'], 'the shared observer saw every request, the skipped one too')
  })

  it('keeps requests apart when an observer starts another request from inside its start', () => {
    const ends: string[] = []
    let depth = 0
    let combined: RequestObserver
    let inner: RequestObservation | undefined
    const nesting: RequestObserver = {
      start: (r) => {
        if (depth === 0) {
          depth++
          inner = combined.start({ method: 'GET', route: '/inner' })
          depth--
        }
        return { end: (o) => ends.push(`nesting:${r.route}:${o.status}`) }
      },
    }
    combined = combineObservers(shared('metrics', ends), nesting)
    const outer = combined.start(request)
    assert.ok(outer !== undefined && inner !== undefined && outer !== inner)
    outer.end({ method: 'GET', route: '/api/x', status: 200, tenant: acme, durationMs: 1, limited: false, rejected: false })
    inner.end({ method: 'GET', route: '/inner', status: 201, tenant: acme, durationMs: 1, limited: false, rejected: false })
    assert.deepEqual(ends, ['metrics:200', 'nesting:/api/x:200', 'metrics:201', 'nesting:/inner:201'])
    // And the next request is joined afresh, not confused with either.
    const next = combined.start(request)
    assert.ok(next !== outer && next !== inner)
  })

  it('runs the handler through the observers that wrap it, the first outermost, and goes on when one throws', () => {
    const order: string[] = []
    const wrapping = (name: string): RequestObserver => ({
      start: () => ({
        run: (fn) => {
          order.push(`${name}>`)
          try {
            return fn()
          } finally {
            order.push(`<${name}`)
          }
        },
        end: () => order.push(`end:${name}`),
      }),
    })
    const throwing: RequestObserver = {
      start: () => ({
        end: () => {
          throw new Error('observer bug')
        },
      }),
    }
    const combined = combineObservers(wrapping('a'), throwing, wrapping('b'), { start: () => { throw new Error('start bug') } })
    const handle = observeRequest(combined, request)
    assert.equal(handle?.wrapsHandler, true, 'the adapter must run the handler chain through it')
    assert.equal(handle?.run(() => { order.push('handler'); return 'ok' }), 'ok')
    handle?.end(200)
    assert.deepEqual(order, ['a>', 'b>', 'handler', '<b', '<a', 'end:a', 'end:b'])
  })
})

describe('an observer that fails in its properties', () => {
  /** Observations whose hooks are getters that throw, and a revoked Proxy. */
  const throwingGetter = (key: 'run' | 'tenant' | 'end'): RequestObservation =>
    Object.defineProperty({ end: () => undefined } as RequestObservation, key, {
      get() {
        throw new Error(`${key} getter bug`)
      },
    })
  const revoked = (): RequestObservation => {
    const { proxy, revoke } = Proxy.revocable({ end: () => undefined }, {})
    revoke()
    return proxy as RequestObservation
  }

  for (const [name, make] of [['run getter', () => throwingGetter('run')], ['tenant getter', () => throwingGetter('tenant')], ['end getter', () => throwingGetter('end')], ['revoked Proxy', revoked]] as const) {
    it(`runs the request as unobserved by it: a ${name} that throws is contained, alone and combined`, () => {
      const log: string[] = []
      for (const observer of [{ start: make }, combineObservers({ start: make }, shared('metrics', log))]) {
        const handle = observeRequest(observer, request)
        // Each step an adapter takes: none throws, and the handler runs exactly once with its own result.
        let calls = 0
        handle?.setTenant(acme)
        const wraps = handle?.wrapsHandler
        assert.equal(typeof (wraps ?? false), 'boolean')
        assert.equal(handle === undefined ? 'direct' : handle.run(() => (calls++, 'handled')), handle === undefined ? 'direct' : 'handled')
        assert.equal(calls, handle === undefined ? 0 : 1)
        handle?.end(200)
      }
      assert.deepEqual(log, ['metrics:200'], 'the other observer still saw the request')
    })
  }
})

describe('the outcome an observer is given', () => {
  it('is each observer\'s own copy (plain data, never the handle), so one observer cannot rewrite what the next counts; a setTenant after the end changes nothing', () => {
    const globex = { ...acme, id: '0194b1c2-0000-7000-8000-000000000002', slug: 'globex' } as Tenant
    const seen: string[] = []
    const given: RequestOutcome[] = []
    const rewriting: RequestObserver = {
      start: () => ({
        end: (o) => {
          given.push(o)
          ;(o as { tenant: Tenant }).tenant = globex
          ;(o as { status: number }).status = 204
          ;(o as unknown as { run: () => string }).run = () => 'hijacked'
        },
      }),
    }
    const counting: RequestObserver = { start: () => ({ end: (o) => (given.push(o), seen.push(`${o.tenant?.slug}:${o.status}:${o.limited}`)) }) }
    for (const observers of [[rewriting, counting], [counting, rewriting], [rewriting, counting, rewriting, counting]]) {
      seen.length = 0
      given.length = 0
      const handle = observeRequest(combineObservers(...observers), request)
      handle?.setTenant(acme)
      handle?.end(429)
      handle?.setTenant(globex)
      assert.deepEqual(seen, observers.filter((o) => o === counting).map(() => 'acme:429:true'), 'what one observer did to its outcome, no other saw')
      assert.equal(new Set(given).size, given.length, 'each observer its own object')
      assert.ok(given.every((o) => o !== (handle as unknown)), 'never the handle')
      assert.equal(handle?.tenant?.slug, 'acme')
      assert.equal(handle?.status, 429)
      assert.equal(handle?.run(() => 'chain'), 'chain', "the handle's own run: nothing an observer set")
      const counted = given[observers.indexOf(counting)]
      assert.deepEqual(counted, { method: 'GET', route: '/api/x', status: 429, tenant: acme, durationMs: handle?.durationMs, limited: true, rejected: false }, 'the outcome is plain data')
      assert.equal(Object.getPrototypeOf(counted), Object.prototype)
      assert.ok((handle?.durationMs ?? -1) >= 0)
    }
    // A lone observer gets a copy too (the handle never leaves the adapter).
    const lone: RequestOutcome[] = []
    const handle = observeRequest({ start: () => ({ end: (o) => lone.push(o) }) }, request)
    handle?.end(200)
    assert.equal(lone.length, 1)
    assert.notEqual(lone[0], handle as unknown)
    assert.equal(lone[0]?.status, 200)
  })

  it('runs nothing in the request\'s context again when an observer that kept it calls run after the end', () => {
    const calls: string[] = []
    let kept: RequestOutcome | undefined
    const wrapping: RequestObserver = {
      start: () => ({
        run: (fn) => {
          calls.push('run')
          return fn()
        },
        end: (o) => {
          kept = o
        },
      }),
    }
    const handle = observeRequest(wrapping, request)
    assert.equal(handle?.run(() => 1), 1)
    handle?.end(200)
    assert.deepEqual(calls, ['run'])
    // The observer kept a copy, not the handle: it has no run to call.
    assert.equal((kept as Partial<RequestHandle> | undefined)?.run, undefined)
    // The handle's run after the end (the adapter's, from a late hook say) only calls fn.
    assert.equal(handle?.run(() => 2), 2)
    assert.deepEqual(calls, ['run'], "the observer's run hook is not called again after the end")
  })

  it('is a copy even for an observer that borrows the combined observation\'s prototype, or when RequestHandle\'s instanceof is patched: the handle never leaves', () => {
    const probe = combineObservers({ start: () => ({ end: () => undefined }) }, { start: () => ({ end: () => undefined }) }).start(request)
    assert.ok(probe !== undefined)
    let got: unknown
    const borrowing: RequestObserver = { start: () => Object.setPrototypeOf({ end: (o: unknown) => (got = o) }, Object.getPrototypeOf(probe)) as RequestObservation }
    const handle = observeRequest(borrowing, request)
    handle?.end(499)
    assert.ok(got !== undefined && got !== (handle as unknown), 'a borrowed prototype is not the brand')
    assert.equal((got as RequestOutcome).status, 499)
    Object.defineProperty(RequestHandle, Symbol.hasInstance, { value: () => false, configurable: true })
    try {
      const given: unknown[] = []
      const both = observeRequest(combineObservers({ start: () => ({ end: (o) => given.push(o) }) }, { start: () => ({ end: (o) => given.push(o) }) }), request)
      both?.end(200)
      assert.equal(given.length, 2)
      assert.ok(given.every((o) => o !== (both as unknown)), 'no observer got the handle')
    } finally {
      delete (RequestHandle as unknown as Record<symbol, unknown>)[Symbol.hasInstance]
    }
    // A real combined observation whose end an observer replaced (on the instance, or on the prototype): the
    // handle ends its observers through the combined observation's own loop, never through that end.
    const noop = { start: () => ({ end: () => undefined }) }
    let replacedGot: unknown
    const replacing: RequestObserver = {
      start: (r) => {
        const c = combineObservers(noop, noop).start(r) as RequestObservation
        // Defined, not assigned (an assignment throws: the prototype's end is frozen).
        Object.defineProperty(c, 'end', {
          value: (o: unknown) => {
            replacedGot = o
            throw new Error('boom')
          },
        })
        return c
      },
    }
    const replaced = observeRequest(replacing, request)
    assert.doesNotThrow(() => replaced?.end(499))
    assert.equal(replacedGot, undefined, 'the replaced end was not called with the handle')
    assert.throws(() => {
      ;(Object.getPrototypeOf(probe) as { end: unknown }).end = () => undefined
    }, TypeError, "the combined observation's methods are frozen")
    assert.throws(() => {
      ;(RequestHandle.prototype as unknown as { run: unknown }).run = () => 'hijacked'
    }, TypeError, "the handle's methods are frozen")
    // An outcome a caller builds itself, with a getter: read once (a snapshot), and each observer gets its own copy of it.
    let reads = 0
    const built = { method: 'GET', route: '/x', get status() { return ++reads }, tenant: acme, durationMs: 1, limited: false, rejected: false } as RequestOutcome
    const statuses: number[] = []
    const joined = combineObservers({ start: () => ({ end: (o) => statuses.push(o.status) }) }, { start: () => ({ end: (o) => { statuses.push(o.status); assert.notEqual(o, built) } }) }).start(request)
    joined?.end(built)
    assert.deepEqual(statuses, [1, 1])
    assert.equal(reads, 1)
  })
})

describe('the request an observer is shown', () => {
  it('is each observer\'s own copy: a rewrite changes neither the next observer, nor the outcome, nor the adapter\'s request (admission keeps its route)', () => {
    const shown: string[] = []
    const rewriting: RequestObserver = {
      start: (r) => {
        ;(r as { route: string }).route = '/cheap'
        ;(r as { method: string }).method = 'HEAD'
        return { end: () => undefined }
      },
    }
    const watching: RequestObserver = { start: (r) => (shown.push(`${r.method} ${r.route}`), { end: (o) => shown.push(`end ${o.method} ${o.route}`) }) }
    for (const observer of [combineObservers(rewriting, watching), rewriting]) {
      shown.length = 0
      const adapters = { method: 'GET', route: '/api/x' }
      const handle = observeRequest(observer, adapters)
      handle?.end(200)
      assert.deepEqual(adapters, { method: 'GET', route: '/api/x' }, "the adapter's own request is never an observer's")
      assert.equal(handle?.route, '/api/x')
      assert.equal(handle?.method, 'GET')
      if (observer !== rewriting) assert.deepEqual(shown, ['GET /api/x', 'end GET /api/x'])
    }
  })
})

describe('combineQueryObservers', () => {
  it('joins shared query observations once and ends each once per query; a throwing one is skipped', () => {
    const seen: string[] = []
    const tenant = { id: acme.id, slug: 'acme', status: 'active', isolation: 'shared' } as ScopedTenant
    const counting = { end: (o: { durationMs: number }) => seen.push(`count:${o.durationMs}`) }
    const combined = combineQueryObservers({ start: () => counting }, { start: () => ({ end: () => seen.push('timer') }) }, { start: () => { throw new Error('bug') } })
    const a = combined.start(tenant)
    const b = combined.start(tenant)
    assert.ok(a !== undefined && b !== undefined && a !== b, 'a new observation per query from the second observer: not joined once')
    a.end({ tenant, durationMs: 1, failed: false })
    b.end({ tenant, durationMs: 2, failed: false })
    assert.deepEqual(seen, ['count:1', 'timer', 'count:2', 'timer'])
    const onlyShared = combineQueryObservers({ start: () => counting }, { start: () => undefined })
    assert.equal(onlyShared.start(tenant), counting, 'one observation started: given as it is')
  })

  it('gives each of several observers its own copy of a query outcome, never the driver\'s object: a rewrite by one is not seen by the next', () => {
    const tenant = { id: acme.id, slug: 'acme', status: 'active', isolation: 'shared' } as ScopedTenant
    const other = { ...tenant, id: '0194b1c2-0000-7000-8000-000000000002', slug: 'globex' } as ScopedTenant
    const given: { tenant: ScopedTenant; failed: boolean }[] = []
    const rewriting = { end: (o: { tenant: ScopedTenant; failed: boolean }) => { given.push(o); o.tenant = other; o.failed = true } }
    const counting = { end: (o: { tenant: ScopedTenant; failed: boolean }) => given.push({ ...o }) }
    const combined = combineQueryObservers({ start: () => rewriting }, { start: () => counting }, { start: () => rewriting })
    const driverObject = { tenant, durationMs: 1, failed: false }
    combined.start(tenant)?.end(driverObject)
    assert.deepEqual(given.map((o) => `${o.tenant.slug}:${o.failed}`), ['globex:true', 'acme:false', 'globex:true'])
    assert.deepEqual(driverObject, { tenant, durationMs: 1, failed: false }, "the driver's object is no observer's")
  })
})


describe('steadyObserver', () => {
  it('ends once per request inside a combined observer, in the observers\' order, with its own copy; it cannot be changed', () => {
    const log: string[] = []
    let starts = 0
    const counting = steadyObserver<RequestObservation>({ end: (o) => { log.push(`steady:${o.method} ${o.route} ${o.status}`); (o as { status: number }).status = 0 } })
    const original = counting.start
    const perRequest: RequestObserver = { start: (r) => (starts++, { tenant: (t) => log.push(`tenant:${t.slug}`), end: (o) => log.push(`per:${o.route} ${o.status}`) }) }
    const wrapping: RequestObserver = { start: () => ({ run: (fn) => (log.push('run'), fn()), end: (o) => log.push(`wrap:${o.status}`) }) }
    const combined = combineObservers(wrapping, counting, perRequest)
    for (const status of [200, 404]) {
      const handle = observeRequest(combined, request)
      handle?.setTenant(acme)
      assert.equal(handle?.run(() => 7), 7)
      handle?.end(status)
    }
    assert.equal(starts, 2, 'the other observer is started per request')
    assert.deepEqual(log, [
      'tenant:acme', 'run', 'wrap:200', 'steady:GET /api/x 200', 'per:/api/x 200',
      'tenant:acme', 'run', 'wrap:404', 'steady:GET /api/x 404', 'per:/api/x 404',
    ], 'each ends once per request, in order; its rewrite of its copy is not what the next one sees')
    assert.ok(Object.isFrozen(counting), 'its start cannot be swapped for one that would be skipped anyway')
    assert.throws(() => { (counting as { start: unknown }).start = () => undefined })
    assert.equal(counting.start, original)
  })

  it('alone, or with observers that start nothing, gives the same observation each time: nothing allocated per request', () => {
    const ended: number[] = []
    const observation: RequestObservation = { end: (o) => ended.push(o.status) }
    const alone = steadyObserver(observation)
    const given = alone.start(request)
    assert.equal(alone.start(request), given, 'the same each time')
    assert.ok(Object.isFrozen(given), 'a frozen wrapper of the caller\'s observation')
    given.end({ ...request, status: 204, tenant: undefined, durationMs: 1, limited: false, rejected: false })
    assert.deepEqual(ended, [204])
    const combined = combineObservers(steadyObserver(observation), { start: () => undefined }, steadyObserver<RequestObservation>({ end: () => undefined }))
    const first = combined.start(request)
    assert.ok(first !== undefined)
    assert.equal(combined.start(request), first, 'the joined observation is given again')
    const lone = steadyObserver(observation)
    const loneCombined = combineObservers(lone, { start: () => undefined })
    assert.equal(loneCombined.start(request), lone.start(request), 'one observation started: given as it is')
  })

  it('never sees a hook its observation grows after it was made (a getter that answers later)', () => {
    let grown = false
    const log: string[] = []
    const sly = { end: () => log.push('end'), get tenant() { return grown ? () => log.push('tenant') : undefined }, get run() { return grown ? (fn: () => unknown) => (log.push('run'), fn()) : undefined } }
    const observer = steadyObserver(sly as RequestObservation)
    grown = true
    for (const o of [observer, combineObservers(observer, { start: () => ({ end: () => undefined }) })]) {
      log.length = 0
      const handle = observeRequest(o, request)
      assert.equal(handle?.wrapsHandler, false)
      handle?.setTenant(acme)
      handle?.run(() => undefined)
      handle?.end(200)
      assert.deepEqual(log, ['end'])
    }
  })

  it('serves query observers too, each query ended once with a copy of its own', () => {
    const tenant = { id: acme.id, slug: 'acme', status: 'active', isolation: 'shared' } as ScopedTenant
    const seen: string[] = []
    const combined = combineQueryObservers(
      steadyObserver({ end: (o: { durationMs: number; failed: boolean }) => { seen.push(`count:${o.durationMs}`); o.failed = true } }),
      { start: () => ({ end: (o) => seen.push(`timer:${o.failed}`) }) },
    )
    combined.start(tenant)?.end({ tenant, durationMs: 3, failed: false })
    assert.deepEqual(seen, ['count:3', 'timer:false'])
  })

  it('refuses what is not an observation, or one with a tenant or run hook (it serves concurrent requests at once), with a typed error', () => {
    for (const bad of [{ end: () => undefined, tenant: () => undefined }, { end: () => undefined, run: (fn: () => unknown) => fn() }]) {
      assert.throws(() => steadyObserver(bad as RequestObservation), (error: unknown) => error instanceof TenantryError && error.code === 'VALIDATION_FAILED' && /only an end\(outcome\) hook/.test(error.message))
    }
    for (const bad of [{}, { end: 1 }, null, undefined]) {
      assert.throws(() => steadyObserver(bad as unknown as RequestObservation), (error: unknown) => error instanceof TenantryError && error.code === 'VALIDATION_FAILED' && /end\(outcome\)/.test(error.message))
    }
  })
})

describe('a combined observer\'s run hooks', () => {
  /** A tracer-like observer: logs its run, and what the chain it wraps gave it. */
  const tracer = (name: string, log: string[]): RequestObserver => ({
    start: () => ({
      run: (fn) => {
        log.push(`${name}.run`)
        try {
          const result = fn()
          log.push(`${name} got ${String(result)}`)
          return result
        } catch (error) {
          log.push(`${name} caught ${(error as Error).message}`)
          throw error
        }
      },
      end: () => undefined,
    }),
  })
  const wrapper = (run: (fn: () => unknown) => unknown): RequestObserver => ({ start: () => ({ run: run as RequestObservation['run'], end: () => undefined }) })

  function go(...observers: RequestObserver[]): { log: string[]; calls: number; result: unknown } {
    const log: string[] = []
    let calls = 0
    const all = observers.map((o) => (o === TRACER ? tracer('B', log) : o === OUTER ? tracer('A', log) : o))
    const handle = observeRequest(combineObservers(...all), request)
    const result = handle?.run(() => {
      calls++
      log.push('handler')
      return 'real'
    })
    return { log, calls, result }
  }
  const TRACER: RequestObserver = { start: () => undefined }
  const OUTER: RequestObserver = { start: () => undefined }

  it('run the next observer\'s run once when one calls its chain twice, and still when one never calls it', () => {
    const twice = go(wrapper((fn) => (fn(), fn())), TRACER)
    assert.deepEqual(twice.log, ['B.run', 'handler', 'B got real'], 'the next hook ran once: one span, not two')
    assert.equal(twice.calls, 1)
    const skipping = go(wrapper(() => 'nope'), TRACER)
    assert.deepEqual(skipping.log, ['B.run', 'handler', 'B got real'], 'the next hook is not skipped')
    assert.equal(skipping.result, 'real')
  })

  it('give an outer observer the chain\'s own result or error, never what an inner observer made up', () => {
    const lying = go(OUTER, wrapper((fn) => { fn(); throw new Error('from the observer') }))
    assert.deepEqual(lying.log, ['A.run', 'handler', 'A got real'])
    assert.equal(lying.result, 'real')
    const forging = go(OUTER, wrapper((fn) => (fn(), 'forged')))
    assert.deepEqual(forging.log, ['A.run', 'handler', 'A got real'])
    assert.equal(forging.result, 'real')
    const failing = observeRequest(combineObservers(tracer('A', []), wrapper((fn) => { try { fn() } catch { return 'swallowed' } })), request)
    assert.throws(() => failing?.run(() => { throw new Error('handler failed') }), /handler failed/, 'the handler\'s error stands')
  })
})

describe('the tenant scope a handler runs in', () => {
  it('is the one it was handed in, whatever scope an observer\'s run enters around it', async () => {
    const acme = { id: '11111111-1111-4111-8111-111111111111', slug: 'acme', status: 'active' } as ScopedTenant
    const globex = { id: '22222222-2222-4222-8222-222222222222', slug: 'globex', status: 'active' } as ScopedTenant
    const seen: string[] = []
    const switching: RequestObserver = { start: () => ({ run: (fn) => runWithTenant(globex, fn, { switch: true }), end: () => undefined }) }
    const watching: RequestObserver = { start: () => ({ run: (fn) => (seen.push(`observer:${currentTenant().slug}`), fn()), end: () => undefined }) }
    for (const observer of [combineObservers(switching, watching), switching]) {
      seen.length = 0
      const handle = observeRequest(observer, request)
      runWithTenant(acme, () => handle?.run(() => seen.push(`handler:${currentTenant().slug}`)))
      assert.deepEqual(seen, observer === switching ? ['handler:acme'] : ['observer:acme', 'handler:acme'])
    }
    // A lazy thenable the chain returns (a Prisma or Drizzle query) is started in that scope, not by the observer later.
    const ranFor: string[] = []
    const lazy = { then: (resolve: (v: string) => void) => resolve((ranFor.push(currentTenant().slug), 'rows')) }
    const later: RequestObserver = { start: () => ({ run: (fn) => { const r = fn() as unknown; runWithTenant(globex, () => void (r as PromiseLike<unknown>).then(() => undefined), { switch: true }); return r as never }, end: () => undefined }) }
    const lazyHandle = observeRequest(later, request)
    const answer = runWithTenant(acme, () => lazyHandle?.run(() => lazy))
    assert.ok(answer instanceof Promise, 'started: the adapter gets a Promise of it')
    assert.equal(await answer, 'rows')
    assert.deepEqual(ranFor, ['acme'], 'run once, for acme')
    // One whose every then runs it again (as Drizzle's query builder): started once, by the handle, though the observer returns it.
    ranFor.length = 0
    const rerun = Object.assign(() => undefined, { then: (resolve: (v: string) => void) => resolve((ranFor.push(currentTenant().slug), 'rows')) })
    const passing: RequestObserver = { start: () => ({ run: (fn) => fn(), end: () => undefined }) }
    const rerunAnswer = runWithTenant(acme, () => observeRequest(passing, request)?.run(() => rerun))
    assert.ok(rerunAnswer instanceof Promise)
    assert.equal(await rerunAnswer, 'rows')
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(ranFor, ['acme'], 'run once')
    // Outside any scope, the chain stays outside any scope.
    const handle = observeRequest(switching, request)
    handle?.run(() => seen.push(`outside:${currentScope()?.kind ?? 'none'}`))
    assert.equal(seen.at(-1), 'outside:none')
  })
})

describe('callSafely', () => {
  it('keeps every failure of a hook to itself: a throw, a rejection, a then getter that throws, a revoked Proxy', async () => {
    assert.equal(callSafely(() => 5), 5)
    assert.equal(callSafely(() => { throw new Error('bug') }), undefined)
    assert.equal(callSafely(() => Promise.reject(new Error('async bug'))), undefined)
    const thenGetter = Object.defineProperty({}, 'then', { get() { throw new Error('then getter') } })
    assert.equal(callSafely(() => thenGetter), undefined)
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    assert.equal(callSafely(() => proxy), undefined)
    await new Promise((resolve) => setImmediate(resolve))
  })
})
