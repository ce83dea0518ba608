import { AsyncLocalStorage } from 'node:async_hooks'
import { types } from 'node:util'
import { TenantryError } from '../errors/index.ts'
import { isUuid } from '../tenant/identifiers.ts'
import { auditTextProblem } from '../tenant/input.ts'
import { assertServing } from '../tenant/lifecycle.ts'
import { tenantStatuses } from '../tenant/model.ts'
import { recordSystemScope } from './audit.ts'
import type { Scope, ScopedTenant, SystemScope } from './scope.ts'

// One store per process even if two copies of @tenantry/core get loaded (a bundled
// adapter and the app's own copy): a second store would hide the tenant.
const STORE_KEY = Symbol.for('tenantry.context.store')
const globalSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<Scope> | undefined>
const storage: AsyncLocalStorage<Scope> = (globalSlot[STORE_KEY] ??= new AsyncLocalStorage<Scope>())

// The deep-frozen tenants this copy of core made (each with the dates in it), and
// the last copy made of each caller's tenant object (a resolution cache hands the
// same object to every request of a tenant, and comparing is cheaper than copying).
// Module-private, unlike the store: whatever could reach a shared one could mark
// its own object as checked. A tenant frozen by another loaded copy of core is
// copied here once, then compared.
const frozenTenants = new WeakMap<object, readonly Date[]>()
const lastCopies = new WeakMap<object, ScopedTenant>()
const NO_DATES: readonly Date[] = Object.freeze([])

// Taken when the module loads: what a date of the scope calls cannot be swapped later.
const NativeDate = Date
const nativeGetTime = Date.prototype.getTime
const nativeSetTime = Date.prototype.setTime
const nativeToISOString = Date.prototype.toISOString
const nativeToString = Date.prototype.toString
const apply = Reflect.apply

/** The time a FrozenDate of this copy of core was made with; undefined for anything else. */
let frozenTimeOf: (value: object) => number | undefined

/**
 * A date of a tenant scope: a real Date (pg, `util.types.isDate` and
 * `structuredClone` see one) whose setters throw, and whose every method reads
 * the time it was made with, kept in a private field. A Date's own time lives
 * in an internal slot that `Object.freeze` cannot reach and
 * `Date.prototype.setTime.call(d, 0)` still changes: no method of the date
 * sees that change, and entering a scope with its tenant again undoes it
 * (what reads the slot itself, `new Date(d)` or `structuredClone`, sees it
 * until then). Its `constructor` is `Date`, so a library that clones a date
 * through it (date-fns, lodash) gets a plain, changeable Date.
 */
class FrozenDate extends NativeDate {
  readonly #time: number

  constructor(time: number) {
    if (typeof time !== 'number') throw new TypeError('A date of the tenant scope is made from a time in milliseconds')
    super(time)
    // As the Date keeps it (whole milliseconds; NaN out of range).
    this.#time = apply(nativeGetTime, this, []) as number
  }

  static {
    frozenTimeOf = (value) => (#time in value ? (value as FrozenDate).#time : undefined)
  }
}
const datePrototype = Date.prototype as unknown as Record<PropertyKey, unknown>
for (const key of Reflect.ownKeys(Date.prototype)) {
  const method = datePrototype[key]
  if (key === 'constructor' || key === 'toJSON' || key === Symbol.toPrimitive || typeof method !== 'function') continue
  const name = String(key)
  const value = name.startsWith('set')
    ? function refuseDateChange(): never {
        throw new TypeError(`Cannot call ${name}() on a date of the tenant scope: the scope's tenant is frozen`)
      }
    : function readFrozenDate(this: unknown, ...args: unknown[]): unknown {
        return apply(method as (...a: unknown[]) => unknown, new NativeDate(frozenDateTime(this)), args)
      }
  Object.defineProperty(FrozenDate.prototype, key, { value })
}
// The two readers whose native versions look other methods up on Date.prototype (which code may swap).
Object.defineProperty(FrozenDate.prototype, 'toJSON', {
  value: function frozenDateToJSON(this: unknown): string | null {
    const time = frozenDateTime(this)
    return Number.isFinite(time) ? (apply(nativeToISOString, new NativeDate(time), []) as string) : null
  },
})
Object.defineProperty(FrozenDate.prototype, Symbol.toPrimitive, {
  value: function frozenDatePrimitive(this: unknown, hint: unknown): string | number {
    if (hint !== 'string' && hint !== 'number' && hint !== 'default') throw new TypeError('Invalid hint')
    const time = frozenDateTime(this)
    return hint === 'number' ? time : (apply(nativeToString, new NativeDate(time), []) as string)
  },
})
Object.defineProperty(FrozenDate.prototype, 'constructor', { value: Date })
Object.freeze(FrozenDate.prototype)
Object.freeze(FrozenDate)

function frozenDateTime(value: unknown): number {
  const time = typeof value === 'object' && value !== null ? frozenTimeOf(value) : undefined
  if (time === undefined) throw new TypeError('this is not a date of a tenant scope')
  return time
}

/** Puts back the time of a copy's dates whose slot was changed through Date.prototype's setters. */
function restoreDates(dates: readonly Date[]): void {
  for (const date of dates) {
    const time = frozenTimeOf(date) as number
    if (!Object.is(apply(nativeGetTime, date, []), time)) apply(nativeSetTime, date, [time])
  }
}

/**
 * The time of a date; undefined for anything else. A FrozenDate of this copy
 * of core: the time it was made with. A plain Date: its slot. Any other Date
 * (a subclass; a FrozenDate of another loaded copy of core, whose slot may
 * have been changed while its methods read the time it was made with): its
 * own `getTime()`, which must give a number.
 */
function dateTime(value: object): number | undefined {
  const frozen = frozenTimeOf(value)
  if (frozen !== undefined) return frozen
  if (!types.isDate(value)) return undefined
  if (Object.getPrototypeOf(value) === Date.prototype) return apply(nativeGetTime, value, []) as number
  const time: unknown = (value as Date).getTime()
  if (typeof time !== 'number') throw new UnsafeTenantValue('is a Date whose getTime() does not give a number')
  return time
}

/** Thrown inside the copy and given its path on the way out. */
class UnsafeTenantValue extends Error {
  readonly path: (string | number)[] = []
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

function pathText(path: readonly (string | number)[]): string {
  let text = 'tenant'
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  return text
}

function kindOf(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === 'string' && name.length > 0 && name !== 'Object' ? `a ${name}` : 'an object with a custom prototype'
}

/** Deeper than this, a tenant is refused (not copied until the stack runs out). */
const MAX_DEPTH = 64
/** More values than this in one tenant (objects, array items, dates, primitives), and it is refused. */
const MAX_VALUES = 100_000

/** What went wrong reading a value, as an UnsafeTenantValue (a revoked Proxy's TypeError, a getter's throw). */
function unsafe(error: unknown): UnsafeTenantValue {
  let reason = 'it threw'
  try {
    if (error instanceof UnsafeTenantValue) return error
    // What was thrown is the tenant's own code: describing it may throw too (a revoked Proxy, a toString that throws).
    reason = error instanceof Error ? String(error.message) : String(error)
  } catch {
    // The plain description stands.
  }
  return new UnsafeTenantValue(`could not be read (${reason})`)
}

/**
 * A deep-frozen copy of plain data: plain objects and arrays are copied and frozen,
 * dates become FrozenDates, primitives are kept. Anything else (a function, a
 * Map, a class instance, a cycle, an array with holes, nesting deeper than
 * MAX_DEPTH) could still be changed through or cannot be copied safely, so it is
 * refused.
 */
function frozenCopy(value: unknown, walk: CopyWalk): unknown {
  if (++walk.values > MAX_VALUES) throw new UnsafeTenantValue(`makes the tenant hold more than ${MAX_VALUES} values`)
  if (typeof value === 'function') throw new UnsafeTenantValue('is a function')
  if (typeof value !== 'object' || value === null) return value
  const ancestors = walk.ancestors
  // An object met twice (not a cycle) is copied once: shared parts cost no more than their size,
  // and count at their full height wherever they are met again.
  if (walk.copies.has(value)) {
    const copied = walk.copies.get(value) as object
    if (ancestors.length + (walk.heights.get(copied) ?? 0) > MAX_DEPTH) throw new UnsafeTenantValue(`is nested more than ${MAX_DEPTH} levels deep`)
    return copied
  }
  const time = dateTime(value)
  if (time !== undefined) {
    const date = Object.freeze(new FrozenDate(time))
    walk.copies.set(value, date)
    walk.dates.push(date)
    return date
  }
  if (ancestors.includes(value)) throw new UnsafeTenantValue('refers back to an object that contains it (a cycle)')
  if (ancestors.length >= MAX_DEPTH) throw new UnsafeTenantValue(`is nested more than ${MAX_DEPTH} levels deep`)
  let copy: unknown[] | Record<string, unknown>
  ancestors.push(value)
  if (Array.isArray(value)) {
    const list: unknown[] = []
    const length = value.length
    for (let i = 0; i < length; i++) {
      try {
        // A hole would read as undefined; a huge sparse array would be filled slot by slot.
        if (!(i in value)) throw new UnsafeTenantValue('is an empty slot of a sparse array')
        list.push(frozenCopy(value[i], walk))
      } catch (error) {
        const failure = unsafe(error)
        failure.path.unshift(i)
        throw failure
      }
    }
    copy = list
  } else {
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) throw new UnsafeTenantValue(`is ${kindOf(value)}, not plain data (an object, array, date or primitive)`)
    const record: Record<string, unknown> = {}
    for (const key of Object.keys(value)) {
      let item: unknown
      try {
        item = frozenCopy((value as Record<string, unknown>)[key], walk)
      } catch (error) {
        const failure = unsafe(error)
        failure.path.unshift(key)
        throw failure
      }
      // Assigning "__proto__" (a key JSON.parse may produce) would set the prototype.
      if (key === '__proto__') Object.defineProperty(record, key, { value: item, enumerable: true, writable: true, configurable: true })
      else record[key] = item
    }
    copy = record
  }
  ancestors.pop()
  Object.freeze(copy)
  walk.copies.set(value, copy)
  walk.heights.set(copy, heightOf(copy, walk))
  return copy
}

/** How many levels of objects `copy` holds (1 with none below it; a date counts 0), from its parts' heights. */
function heightOf(copy: unknown[] | Record<string, unknown>, walk: CopyWalk): number {
  let below = 0
  for (const item of Array.isArray(copy) ? copy : Object.values(copy)) {
    if (typeof item === 'object' && item !== null) below = Math.max(below, walk.heights.get(item) ?? 0)
  }
  return below + 1
}

/** One copy's state: the objects above the current one, what each object met became, and the dates made. */
interface CopyWalk {
  readonly ancestors: object[]
  readonly copies: Map<object, unknown>
  /** The height of each copy made (dates have none: 0). */
  readonly heights: Map<object, number>
  readonly dates: Date[]
  /** Values met so far. */
  values: number
}

/**
 * True when `copy` is what `frozenCopy(value)` would make now: the same plain data,
 * read once. The walk follows the copy (no cycle, each shared part compared once),
 * so it ends even if `value` gained a cycle or an array claims a huge length.
 */
function holdsSameData(value: unknown, copy: unknown, compared: Map<object, unknown>): boolean {
  if (typeof value !== 'object' || value === null) return typeof value !== 'function' && Object.is(value, copy)
  if (typeof copy !== 'object' || copy === null) return false
  // One copy per original, as frozenCopy makes: met again, it must be the same copy (each pair compared once).
  const seen = compared.get(value)
  if (seen !== undefined) return seen === copy
  compared.set(value, copy)
  const time = dateTime(value)
  if (time !== undefined) return Object.is(time, frozenTimeOf(copy))
  if (Array.isArray(value)) {
    if (!Array.isArray(copy)) return false
    const length = copy.length
    if (value.length !== length) return false
    for (let i = 0; i < length; i++) if (!(i in value) || !holdsSameData(value[i], copy[i], compared)) return false
    return true
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if ((proto !== Object.prototype && proto !== null) || Array.isArray(copy) || frozenTimeOf(copy) !== undefined) return false
  const keys = Object.keys(value)
  if (keys.length !== Object.keys(copy).length) return false
  for (const key of keys) {
    if (!Object.hasOwn(copy, key) || !holdsSameData((value as Record<string, unknown>)[key], (copy as Record<string, unknown>)[key], compared)) return false
  }
  return true
}

/** holdsSameData, false when reading `value` throws (the copy below then says why). */
function sameDataSafely(value: unknown, copy: unknown): boolean {
  try {
    return holdsSameData(value, copy, new Map())
  } catch {
    return false
  }
}

/**
 * Who handed over a tenant that cannot be used: the caller of `runWithTenant`
 * (bad input, VALIDATION_FAILED) or a tenant directory (a deployment error:
 * INTERNAL, so a request's response says nothing of it and the log says
 * which directory to mend).
 */
type TenantSource = { readonly caller: 'runWithTenant' } | { readonly directory: string }

function unusableTenant(source: TenantSource, problem: string, details: { path: string; message: string }[]): TenantryError {
  if ('caller' in source) return new TenantryError('VALIDATION_FAILED', `runWithTenant got ${problem}`, { details })
  return new TenantryError('INTERNAL', `${source.directory}: the tenant directory returned ${problem}; a directory must return plain data (objects, arrays, dates, primitives) with a UUID id, a slug and a known status`, { details })
}

const RUN_WITH_TENANT: TenantSource = { caller: 'runWithTenant' }

/**
 * The scope's private, deep-frozen copy of `tenant`, validated. A scope's tenant
 * entered again is used as is; the same caller object entered again reuses its
 * last copy while it still holds the same data (it may have changed in between).
 */
function scopeTenant(tenant: ScopedTenant, source: TenantSource): ScopedTenant {
  if (typeof tenant !== 'object' || tenant === null) {
    throw unusableTenant(source, 'no tenant object: it needs { id, slug, status }', [{ path: 'tenant', message: 'must be an object { id, slug, status }' }])
  }
  const dates = frozenTenants.get(tenant)
  if (dates !== undefined) {
    restoreDates(dates)
    return tenant
  }
  const last = lastCopies.get(tenant)
  if (last !== undefined && sameDataSafely(tenant, last)) {
    restoreDates(frozenTenants.get(last)!)
    return last
  }
  let copy: ScopedTenant
  const walk: CopyWalk = { ancestors: [], copies: new Map(), heights: new Map(), dates: [], values: 0 }
  try {
    copy = frozenCopy(tenant, walk) as ScopedTenant
  } catch (error) {
    const failure = unsafe(error)
    const path = pathText(failure.path)
    throw unusableTenant(source, `a tenant it cannot freeze: ${path} ${failure.message}`, [{ path, message: failure.message }])
  }
  // Checked on the copy, not the original: a getter could answer differently twice.
  const problems = tenantShapeProblems(copy)
  if (problems.length > 0) throw unusableTenant(source, `an invalid tenant: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, problems)
  frozenTenants.set(copy, walk.dates.length === 0 ? NO_DATES : walk.dates)
  lastCopies.set(tenant, copy)
  return copy
}

/**
 * The deep-frozen copy of `tenant` a scope holds (the one `runWithTenant`
 * reuses), for a cache to hand out: no code holding it (a handler, an
 * observer) can change what the next request of that tenant sees, and
 * entering it is the fast path. A tenant that is not plain data, or lacks a
 * UUID id, a slug or a known status, is INTERNAL naming `directory` (a
 * deployment error, not the request's). Internal to `@tenantry/core`.
 *
 * @example
 * const cached = frozenTenant(await catalog.getBySlug('acme'), 'CachedTenantDirectory')
 */
export function frozenTenant<T extends ScopedTenant>(tenant: T, directory: string): T {
  return scopeTenant(tenant, { directory }) as T
}

export interface RunWithTenantOptions {
  /**
   * Allow entering a different tenant inside a tenant scope. Off by default: a
   * nested switch is almost always a bug that would mix two tenants' data.
   */
  readonly switch?: boolean
}

export interface RunAsSystemOptions {
  /** Who asked for the cross-tenant work (an admin user, a job name). */
  readonly actor?: string
}

function tenantShapeProblems(tenant: ScopedTenant): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = []
  if (!isUuid(tenant.id)) problems.push({ path: 'tenant.id', message: 'must be a UUID' })
  if (typeof tenant.slug !== 'string' || tenant.slug.length === 0) problems.push({ path: 'tenant.slug', message: 'must be a non-empty string' })
  if (!tenantStatuses.includes(tenant.status)) problems.push({ path: 'tenant.status', message: `must be one of ${tenantStatuses.join(', ')}` })
  return problems
}

/**
 * Runs `fn` with `tenant` as the current tenant. The tenant follows every async hop
 * made from `fn` (awaits, timers, microtasks, emitters bound with AsyncResource).
 *
 * The scope holds a private, deep-frozen copy of `tenant` (its `placement`,
 * `settings`, arrays and dates included), so neither code inside the scope nor the
 * caller changing its object afterwards can change whom the scope runs for. The
 * tenant must be plain data: a function, Map, Set, class instance or cycle in it is
 * VALIDATION_FAILED. Passing `currentTenant()` (or any scope's tenant) again reuses
 * that copy, and so does passing the same object again while it holds the same data
 * (a cached directory hands every request of a tenant the same object).
 *
 * Entering another tenant while one is current throws TENANT_CONTEXT_CONFLICT
 * unless `{ switch: true }` is given; entering the same tenant again is a no-op.
 *
 * When `fn` returns a lazy thenable (a Prisma query, a Drizzle query builder,
 * which run only when awaited), it is started inside the scope and a Promise of
 * its result is returned: `runWithTenant(acme, () => prisma.project.findMany())`
 * runs for acme, though the caller awaits it outside.
 *
 * @example
 * await runWithTenant(tenant, async () => {
 *   const rows = await db.selectFrom('projects').selectAll().execute() // acme's rows only
 * })
 */
export function runWithTenant<T>(tenant: ScopedTenant, fn: () => T, options: RunWithTenantOptions = {}): T {
  const scoped = scopeTenant(tenant, RUN_WITH_TENANT)
  const current = storage.getStore()
  if (current?.kind === 'tenant' && current.tenant.id !== scoped.id && options.switch !== true) {
    throw new TenantryError(
      'TENANT_CONTEXT_CONFLICT',
      `Refusing to enter tenant "${scoped.slug}" inside tenant "${current.tenant.slug}"'s scope; pass { switch: true } if this is intended`,
    )
  }
  return storage.run(Object.freeze({ kind: 'tenant', tenant: scoped }), () => startedInScope(fn()))
}

/**
 * A lazy thenable `fn` returned (a Prisma query, a Drizzle query builder: they
 * run when awaited) started here, inside the scope: awaited by the caller it
 * would run in the caller's context, outside the scope. That includes a
 * subclass of Promise and a function with a `then` (a subclass comes back as
 * a plain Promise of its result). A native Promise (the work already runs in
 * the scope) and any other value are returned as they are.
 * Internal to core.
 */
export function startedInScope<T>(result: T): T {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function')) return result
  // A native Promise already runs (checked by its internal slot and prototype, which neither a Proxy nor an object
  // made from Promise.prototype can fake); a subclass of it (a lazy promise), or a callable thenable, may not yet.
  if (types.isPromise(result) && Object.getPrototypeOf(result) === Promise.prototype && !Object.hasOwn(result, 'then')) return result
  if (typeof (result as { then?: unknown }).then !== 'function') return result
  return Promise.resolve(result) as T
}

/** The longest reason and actor the audit log takes (as the catalog's own options). */
export const MAX_REASON = 1000
export const MAX_ACTOR = 200

/**
 * Runs `fn` in an explicit, audited system scope for cross-tenant work. Every
 * registered `onSystemScope` sink records the reason first; `fn` runs only after
 * they all succeed. Tenant-scoped queries see no tenant here (no filter applies),
 * so keep system scopes small.
 *
 * @example
 * const counts = await runAsSystem('nightly usage report', () => report(db))
 */
export async function runAsSystem<T>(reason: string, fn: () => T | Promise<T>, options: RunAsSystemOptions = {}): Promise<T> {
  // Both go to the audit log as they are: checked as the catalog checks an actor and a reason it is given.
  const reasonProblem = auditTextProblem(reason, MAX_REASON)
  if (reasonProblem !== undefined) {
    throw new TenantryError('VALIDATION_FAILED', `runAsSystem needs a reason, which is written to the audit log: it ${reasonProblem}`, {
      details: [{ path: 'reason', message: reasonProblem }],
    })
  }
  const actorProblem = options.actor === undefined ? undefined : auditTextProblem(options.actor, MAX_ACTOR)
  if (actorProblem !== undefined) {
    throw new TenantryError('VALIDATION_FAILED', `runAsSystem's options.actor is written to the audit log: it ${actorProblem}`, {
      details: [{ path: 'options.actor', message: actorProblem }],
    })
  }
  const outer = storage.getStore()
  const enteredFrom = outer?.kind === 'tenant' ? outer.tenant : outer?.enteredFrom
  const scope: SystemScope = Object.freeze({ kind: 'system', reason, actor: options.actor, enteredFrom })
  await recordSystemScope({
    reason,
    actor: options.actor,
    at: new Date(),
    enteredFrom: enteredFrom ? { id: enteredFrom.id, slug: enteredFrom.slug } : undefined,
  })
  return storage.run(scope, () => startedInScope(fn()))
}

/**
 * Runs `fn` outside any scope: a worker's boundary (a job's scope is the one
 * it recorded, never the one the worker happened to start in). Leaving a
 * scope only takes rights away; tenant-scoped code in `fn` fails closed.
 * Internal to core.
 */
export function leaveScope<T>(fn: () => T): T {
  return storage.exit(fn)
}

/**
 * Runs `fn` in `scope` as it was taken from `currentScope()` (outside any
 * scope when undefined): for code that must run a callback in the scope it
 * was handed, whatever scope the code in between entered. Internal to core.
 */
export function runInScope<T>(scope: Scope | undefined, fn: () => T): T {
  return scope === undefined ? storage.exit(fn) : storage.run(scope, fn)
}

/** The scope in force (tenant or system), or undefined outside any scope. */
export function currentScope(): Scope | undefined {
  return storage.getStore()
}

/** The current tenant, or undefined outside a tenant scope. Never throws. */
export function tryCurrentTenant(): ScopedTenant | undefined {
  const scope = storage.getStore()
  return scope?.kind === 'tenant' ? scope.tenant : undefined
}

/**
 * The current tenant. Throws TENANT_CONTEXT_MISSING outside a tenant scope
 * (a system scope has no tenant either).
 */
export function currentTenant(): ScopedTenant {
  const scope = storage.getStore()
  if (scope?.kind === 'tenant') return scope.tenant
  throw new TenantryError(
    'TENANT_CONTEXT_MISSING',
    scope?.kind === 'system'
      ? `No tenant in context: this code runs in a system scope ("${scope.reason}"); enter runWithTenant() for tenant work`
      : 'No tenant in context: run this code inside runWithTenant(tenant, fn), or runAsSystem(reason, fn) for audited cross-tenant work',
  )
}

/**
 * The scope a query may run in: the system scope, or a tenant that may serve.
 * The one home of both refusals every data layer makes: no scope at all is
 * TENANT_CONTEXT_MISSING, a tenant that is not `active` is TENANT_SUSPENDED.
 *
 * @example
 * const scope = queryScope()   // in a driver or plugin, before anything is sent
 */
export function queryScope(scope: Scope | undefined = storage.getStore()): Scope {
  if (scope === undefined) {
    throw new TenantryError(
      'TENANT_CONTEXT_MISSING',
      'A query ran outside any scope; run it inside runWithTenant(tenant, fn), or runAsSystem(reason, fn) for audited cross-tenant work',
    )
  }
  if (scope.kind === 'tenant') assertServing(scope.tenant)
  return scope
}

/** True inside runAsSystem(). */
export function isSystemScope(): boolean {
  return storage.getStore()?.kind === 'system'
}
