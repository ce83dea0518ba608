import { AsyncLocalStorage } from 'node:async_hooks'
import { types } from 'node:util'
import { TenantryError } from '../errors/index.ts'
import { isUuid } from '../tenant/identifiers.ts'
import { assertServing } from '../tenant/lifecycle.ts'
import { tenantStatuses } from '../tenant/model.ts'
import { recordSystemScope } from './audit.ts'
import type { Scope, ScopedTenant, SystemScope } from './scope.ts'

// One store per process even if two copies of @tenantry/core get loaded (a bundled
// adapter and the app's own copy): a second store would hide the tenant.
const STORE_KEY = Symbol.for('tenantry.context.store')
const globalSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<Scope> | undefined>
const storage: AsyncLocalStorage<Scope> = (globalSlot[STORE_KEY] ??= new AsyncLocalStorage<Scope>())

// The deep-frozen tenants this process made, shared like the store: a copy made by
// one loaded copy of core is reused by another instead of being copied again.
const COPIES_KEY = Symbol.for('tenantry.context.frozen-tenants')
const copySlot = globalThis as unknown as Record<symbol, WeakSet<object> | undefined>
const frozenTenants: WeakSet<object> = (copySlot[COPIES_KEY] ??= new WeakSet<object>())
// The last copy made of each caller's tenant object: a resolution cache hands the
// same object to every request of a tenant, and comparing is cheaper than copying.
const LAST_COPY_KEY = Symbol.for('tenantry.context.last-frozen-copy')
const lastCopySlot = globalThis as unknown as Record<symbol, WeakMap<object, ScopedTenant> | undefined>
const lastCopies: WeakMap<object, ScopedTenant> = (lastCopySlot[LAST_COPY_KEY] ??= new WeakMap<object, ScopedTenant>())

/**
 * A Date whose setters throw. A Date's time lives in an internal slot that
 * Object.freeze cannot reach, so the scope's dates are copies of this class.
 */
class FrozenDate extends Date {}
for (const name of Object.getOwnPropertyNames(Date.prototype)) {
  if (!name.startsWith('set')) continue
  Object.defineProperty(FrozenDate.prototype, name, {
    value: function refuseDateChange(): never {
      throw new TypeError(`Cannot call ${name}() on a date of the tenant scope: the scope's tenant is frozen`)
    },
  })
}
Object.freeze(FrozenDate.prototype)

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
  return typeof name === 'string' && name.length > 0 ? `a ${name}` : 'an object with a custom prototype'
}

/**
 * A deep-frozen copy of plain data: plain objects and arrays are copied and frozen,
 * dates become FrozenDates, primitives are kept. Anything else (a function, a
 * Map, a class instance, a cycle) could still be changed through, so it is refused.
 */
function frozenCopy(value: unknown, ancestors: object[]): unknown {
  if (typeof value === 'function') throw new UnsafeTenantValue('is a function')
  if (typeof value !== 'object' || value === null) return value
  if (types.isDate(value)) return Object.freeze(new FrozenDate(Date.prototype.getTime.call(value)))
  if (ancestors.includes(value)) throw new UnsafeTenantValue('refers back to an object that contains it (a cycle)')
  let copy: unknown[] | Record<string, unknown>
  ancestors.push(value)
  if (Array.isArray(value)) {
    const list: unknown[] = new Array(value.length)
    for (let i = 0; i < value.length; i++) {
      try {
        list[i] = frozenCopy(value[i], ancestors)
      } catch (error) {
        if (error instanceof UnsafeTenantValue) error.path.unshift(i)
        throw error
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
        item = frozenCopy((value as Record<string, unknown>)[key], ancestors)
      } catch (error) {
        if (error instanceof UnsafeTenantValue) error.path.unshift(key)
        throw error
      }
      // Assigning "__proto__" (a key JSON.parse may produce) would set the prototype.
      if (key === '__proto__') Object.defineProperty(record, key, { value: item, enumerable: true, writable: true, configurable: true })
      else record[key] = item
    }
    copy = record
  }
  ancestors.pop()
  return Object.freeze(copy)
}

/**
 * True when `copy` is what `frozenCopy(value)` would make now: the same plain data,
 * read once. The copy has no cycle, so the walk ends even if `value` gained one.
 */
function holdsSameData(value: unknown, copy: unknown): boolean {
  if (typeof value !== 'object' || value === null) return typeof value !== 'function' && Object.is(value, copy)
  if (typeof copy !== 'object' || copy === null) return false
  // Any copied date is frozen (by this copy of core or another), so any Date will do.
  if (types.isDate(value)) return copy instanceof Date && Object.is(Date.prototype.getTime.call(value), copy.getTime())
  if (Array.isArray(value)) {
    if (!Array.isArray(copy) || value.length !== copy.length) return false
    for (let i = 0; i < value.length; i++) if (!holdsSameData(value[i], copy[i])) return false
    return true
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if ((proto !== Object.prototype && proto !== null) || Array.isArray(copy) || copy instanceof Date) return false
  const keys = Object.keys(value)
  if (keys.length !== Object.keys(copy).length) return false
  for (const key of keys) {
    if (!Object.hasOwn(copy, key) || !holdsSameData((value as Record<string, unknown>)[key], (copy as Record<string, unknown>)[key])) return false
  }
  return true
}

/**
 * The scope's private, deep-frozen copy of `tenant`, validated. A scope's tenant
 * entered again is used as is; the same caller object entered again reuses its
 * last copy while it still holds the same data (it may have changed in between).
 */
function scopeTenant(tenant: ScopedTenant): ScopedTenant {
  if (typeof tenant !== 'object' || tenant === null) {
    throw new TenantryError('VALIDATION_FAILED', 'runWithTenant needs a tenant object { id, slug, status }')
  }
  if (frozenTenants.has(tenant)) return tenant
  const last = lastCopies.get(tenant)
  if (last !== undefined && holdsSameData(tenant, last)) return last
  let copy: ScopedTenant
  try {
    copy = frozenCopy(tenant, []) as ScopedTenant
  } catch (error) {
    if (!(error instanceof UnsafeTenantValue)) throw error
    const path = pathText(error.path)
    throw new TenantryError('VALIDATION_FAILED', `runWithTenant got a tenant it cannot freeze: ${path} ${error.message}`, {
      details: [{ path, message: error.message }],
    })
  }
  // Checked on the copy, not the original: a getter could answer differently twice.
  assertTenantShape(copy)
  frozenTenants.add(copy)
  lastCopies.set(tenant, copy)
  return copy
}

/**
 * The deep-frozen copy of `tenant` a scope holds (the one `runWithTenant`
 * reuses), for a cache to hand out: no code holding it (a handler, an
 * observer) can change what the next request of that tenant sees, and
 * entering it is the fast path. Internal to `@tenantry/core`.
 *
 * @example
 * const cached = frozenTenant(await catalog.getBySlug('acme'))
 */
export function frozenTenant<T extends ScopedTenant>(tenant: T): T {
  return scopeTenant(tenant) as T
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

function assertTenantShape(tenant: ScopedTenant): void {
  const problems: { path: string; message: string }[] = []
  if (!isUuid(tenant.id)) problems.push({ path: 'tenant.id', message: 'must be a UUID' })
  if (typeof tenant.slug !== 'string' || tenant.slug.length === 0) problems.push({ path: 'tenant.slug', message: 'must be a non-empty string' })
  if (!tenantStatuses.includes(tenant.status)) problems.push({ path: 'tenant.status', message: `must be one of ${tenantStatuses.join(', ')}` })
  if (problems.length) {
    throw new TenantryError('VALIDATION_FAILED', `runWithTenant got an invalid tenant: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { details: problems })
  }
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
  const scoped = scopeTenant(tenant)
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
 * would run in the caller's context, outside the scope. A native Promise (the
 * work already runs in the scope) and any other value are returned as they are.
 */
function startedInScope<T>(result: T): T {
  if (result instanceof Promise || typeof result !== 'object' || result === null) return result
  if (typeof (result as { then?: unknown }).then !== 'function') return result
  return Promise.resolve(result) as T
}

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
  if (typeof reason !== 'string' || reason.trim().length === 0) {
    throw new TenantryError('VALIDATION_FAILED', 'runAsSystem needs a non-empty reason; it is written to the audit log', {
      details: [{ path: 'reason', message: 'must be a non-empty string' }],
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
