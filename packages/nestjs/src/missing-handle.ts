/** What `TENANTRY_DB` / `TENANTRY_POOL` hold when the Tenantry given to the module has no such handle. */
import { TenantryError } from '@tenantry/core'

// Read by Nest (lifecycle hooks), by `await` and by inspection, never a use of the handle.
const PASSIVE = new Set<PropertyKey>([
  'then', 'constructor', 'toJSON', 'inspect', 'asymmetricMatch', '$$typeof', 'nodeType',
  'onModuleInit', 'onApplicationBootstrap', 'onModuleDestroy', 'beforeApplicationShutdown', 'onApplicationShutdown',
])

/**
 * A stand-in that lets the app start when nothing uses the handle, and throws
 * INTERNAL, naming what is missing, at the first use (a handle asked for but
 * never given is a deployment error: the client sees only 500 INTERNAL).
 */
export function missingHandle(name: 'db' | 'pool', token: string): object {
  const refuse = (): never => {
    throw new TenantryError(
      'INTERNAL',
      `${token} was injected, but the Tenantry given to TenantryModule has no \`${name}\`: pass what createTenantry() returns, or add \`${name}\` to { http, db, pool }`,
    )
  }
  return new Proxy(Object.create(null) as object, {
    get(_target, key) {
      if (typeof key === 'symbol' || PASSIVE.has(key)) return undefined
      return refuse()
    },
    has: () => false,
    set: refuse,
    apply: refuse,
  })
}
