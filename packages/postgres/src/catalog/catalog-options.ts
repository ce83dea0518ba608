import type pg from 'pg'
import type { TenantPlacement } from '@tenantry/core'
import type { PostgresTarget } from '../driver/target.ts'
import type { Attribution } from './arguments.ts'

/**
 * Where the catalog lives: `{ target }`, or `{ pool }` (a pg.Pool), and a
 * PostgresTarget itself fits the latter as is. It must connect as the
 * control-plane (owner) role, never as a tenant scope's runtime role: that role
 * has no access to the `tenantry` schema.
 *
 * @example
 * new TenantCatalog(pgliteTarget(lite))
 * new TenantCatalog({ pool, defaultActor: 'admin-api' })
 */
export type TenantCatalogOptions = ({ readonly target: PostgresTarget } | { readonly pool: pg.Pool }) & {
  /** Actor recorded for changes that name none and run outside a system scope. */
  readonly defaultActor?: string
}

/**
 * Options of `create`.
 *
 * @example
 * await catalog.create({ slug: 'initech', name: 'Initech', isolation: 'database' }, { activate: false, actor: 'admin:alice' })
 */
export interface CreateTenantOptions extends Attribution {
  /**
   * Default `true`: the tenant starts `active` and serves traffic at once (what the
   * admin API wants). `false` starts it `provisioning`, for callers that create
   * schemas or databases first and then call `activate`.
   */
  readonly activate?: boolean
  /** Initial placement; default `{}` (the default server, nothing placed yet). */
  readonly placement?: TenantPlacement
}

/**
 * Options of `createApiKey`.
 *
 * @example
 * await catalog.createApiKey(id, { name: 'CI deploys', actor: 'admin:alice' })
 */
export interface CreateApiKeyOptions extends Attribution {
  /** A label for people, e.g. "CI deploys" (at most 100 characters). */
  readonly name?: string
}
