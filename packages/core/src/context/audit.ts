import type { ScopedTenant } from './scope.ts'

/** Recorded every time code enters a system (cross-tenant) scope. */
export interface SystemScopeEvent {
  readonly reason: string
  readonly actor: string | undefined
  readonly at: Date
  /** The tenant whose scope the system scope was entered from, if any. */
  readonly enteredFrom: Pick<ScopedTenant, 'id' | 'slug'> | undefined
}

/** A sink for system-scope events; async sinks are awaited before the work runs. */
export type SystemScopeListener = (event: SystemScopeEvent) => void | Promise<void>

const LISTENERS_KEY = Symbol.for('tenantry.context.system-listeners')
const globalSlot = globalThis as unknown as Record<symbol, Set<SystemScopeListener> | undefined>
const listeners: Set<SystemScopeListener> = (globalSlot[LISTENERS_KEY] ??= new Set<SystemScopeListener>())

/**
 * Registers an audit sink for system scopes. The work inside `runAsSystem` starts
 * only after every sink has accepted the event: if a sink fails, the work does not
 * run. Returns a function that removes the sink.
 *
 * @example
 * const off = onSystemScope((e) => auditLog.write('system_scope', e))
 */
export function onSystemScope(listener: SystemScopeListener): () => void {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

/** Sends `event` to every registered sink and waits for all of them. */
export async function recordSystemScope(event: SystemScopeEvent): Promise<void> {
  await Promise.all([...listeners].map((listener) => listener(event)))
}
