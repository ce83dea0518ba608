import { AsyncLocalStorage } from 'node:async_hooks'
import { TenantryError } from '../errors/index.ts'
import { isUuid } from '../tenant/identifiers.ts'
import { tenantStatuses } from '../tenant/model.ts'
import { recordSystemScope } from './audit.ts'
import type { Scope, ScopedTenant, SystemScope } from './scope.ts'

// One store per process even if two copies of @tenantry/core get loaded (a bundled
// adapter and the app's own copy): a second store would hide the tenant.
const STORE_KEY = Symbol.for('tenantry.context.store')
const globalSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<Scope> | undefined>
const storage: AsyncLocalStorage<Scope> = (globalSlot[STORE_KEY] ??= new AsyncLocalStorage<Scope>())

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
  if (typeof tenant !== 'object' || tenant === null) {
    throw new TenantryError('VALIDATION_FAILED', 'runWithTenant needs a tenant object { id, slug, status }')
  }
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
 * Entering another tenant while one is current throws TENANT_CONTEXT_CONFLICT
 * unless `{ switch: true }` is given; entering the same tenant again is a no-op.
 *
 * @example
 * await runWithTenant(tenant, async () => {
 *   const rows = await db.selectFrom('projects').selectAll().execute() // acme's rows only
 * })
 */
export function runWithTenant<T>(tenant: ScopedTenant, fn: () => T, options: RunWithTenantOptions = {}): T {
  assertTenantShape(tenant)
  const current = storage.getStore()
  if (current?.kind === 'tenant' && current.tenant.id !== tenant.id && options.switch !== true) {
    throw new TenantryError(
      'TENANT_CONTEXT_CONFLICT',
      `Refusing to enter tenant "${tenant.slug}" inside tenant "${current.tenant.slug}"'s scope; pass { switch: true } if this is intended`,
    )
  }
  return storage.run(Object.freeze({ kind: 'tenant', tenant: Object.freeze({ ...tenant }) }), fn)
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
  return storage.run(scope, fn)
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

/** True inside runAsSystem(). */
export function isSystemScope(): boolean {
  return storage.getStore()?.kind === 'system'
}
