/** What TenantryModule takes, and the checks that make misuse fail at start. */
import { TenantryError, createTenantGate, type TenantGate, type TenantHttpOptions } from '@tenantry/core'

/**
 * What the module needs of a Tenantry: the HTTP options, and the scoped
 * handles it provides for injection. What `createTenantry()` returns fits; so
 * does a hand-made `{ http, db, pool }`.
 *
 * @example
 * const source: TenantrySource = { http: { resolution, authenticate: apiKeyAuthenticator(keys) }, db }
 */
export interface TenantrySource {
  /** Resolution, authentication and admission (`tenantry.http`). */
  readonly http: TenantHttpOptions<any>
  /** The scoped Kysely instance, provided as `TENANTRY_DB`. */
  readonly db?: unknown
  /** The tenant-scoped `pg.Pool`, provided as `TENANTRY_POOL`. */
  readonly pool?: unknown
  /** Called on shutdown when `closeOnShutdown` is set. */
  close?(): Promise<void>
}

/**
 * What the module does besides providing the Tenantry.
 *
 * @example
 * const behaviour: TenantryModuleBehaviour = { exclude: ['/healthz'], log: (error) => logger.error(error), closeOnShutdown: true }
 */
export interface TenantryModuleBehaviour {
  /**
   * Path prefixes that are not tenant routes (`['/healthz', '/admin']`),
   * matched per path segment; added to `http.exclude`. No resolution, no key,
   * no tenant scope there.
   */
  readonly exclude?: readonly string[]
  /** Where the exception filter logs 500s (and the errors it hides); default Nest's `Logger`. */
  readonly log?: (error: unknown, request: unknown) => void
  /** Close the Tenantry (`tenantry.close()`) when the app shuts down. Default false: whoever made it closes it. */
  readonly closeOnShutdown?: boolean
}

/**
 * `TenantryModule.forRoot()`'s options: `{ tenantry }` (what `createTenantry()`
 * returned) or the parts themselves (`{ http, db?, pool? }`), plus the
 * module's own options.
 *
 * @example
 * TenantryModule.forRoot({ tenantry, exclude: ['/healthz'] })
 * TenantryModule.forRoot({ http: { resolution, authenticate }, db, exclude: ['/healthz'] })
 */
export type TenantryModuleOptions =
  | (TenantryModuleBehaviour & { readonly tenantry: TenantrySource })
  | (TenantryModuleBehaviour & TenantrySource)

/** The options after the start-time checks. */
export interface TenantrySettings {
  readonly tenantry: TenantrySource
  /** The HTTP options the platform binding runs, `exclude` merged. */
  readonly http: TenantHttpOptions<any>
  readonly gate: TenantGate<any>
  readonly log: ((error: unknown, request: unknown) => void) | undefined
  readonly closeOnShutdown: boolean
}

function problem(where: string, path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${where}: options${path ? `.${path}` : ''} ${message}`, { details: [{ path, message }] })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

/**
 * Checks the module's options (at start) and merges the exclusions; throws
 * VALIDATION_FAILED naming the option at fault.
 */
export function settingsOf(options: unknown, where: string): TenantrySettings {
  if (!isObject(options)) throw problem(where, '', 'must be an object: { tenantry } (what createTenantry() returns) or { http, db?, pool? }')
  const wrapped = 'tenantry' in options
  const tenantry = wrapped ? options.tenantry : options
  const prefix = wrapped ? 'tenantry.' : ''
  if (!isObject(tenantry)) throw problem(where, 'tenantry', 'must be what createTenantry() returns (an object with `http`)')
  const http = tenantry.http
  if (!isObject(http)) throw problem(where, `${prefix}http`, 'must be the HTTP options (`tenantry.http`: { resolution, authenticate?, admission? })')
  const { exclude, log, closeOnShutdown } = options as TenantryModuleBehaviour
  if (exclude !== undefined && !Array.isArray(exclude)) throw problem(where, 'exclude', 'must be an array of path prefixes such as "/healthz"')
  if (log !== undefined && typeof log !== 'function') throw problem(where, 'log', 'must be a function (error, request) => void')
  if (closeOnShutdown !== undefined && typeof closeOnShutdown !== 'boolean') throw problem(where, 'closeOnShutdown', 'must be a boolean')
  if (closeOnShutdown === true && typeof tenantry.close !== 'function') throw problem(where, 'closeOnShutdown', 'needs a Tenantry with close()')
  const own = http as unknown as TenantHttpOptions<any>
  if (own.exclude !== undefined && !Array.isArray(own.exclude)) throw problem(where, `${prefix}http.exclude`, 'must be an array of path prefixes such as "/healthz"')
  const merged: TenantHttpOptions<any> = {
    resolution: own.resolution,
    // Bound: `authenticate` may be a method of a class instance that reads `this`.
    ...(typeof own.authenticate === 'function' ? { authenticate: own.authenticate.bind(own) } : own.authenticate === undefined ? {} : { authenticate: own.authenticate }),
    ...(own.admission === undefined ? {} : { admission: own.admission }),
    ...(own.observer === undefined ? {} : { observer: own.observer }),
    exclude: [...new Set([...(own.exclude ?? []), ...(exclude ?? [])])],
  }
  // The same checks every adapter makes (resolution, authenticate, admission, exclude).
  const gate = createTenantGate(merged, where)
  return { tenantry: tenantry as unknown as TenantrySource, http: merged, gate, log, closeOnShutdown: closeOnShutdown === true }
}
