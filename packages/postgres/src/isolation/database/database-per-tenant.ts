import { TenantryError, assertServing, isUuid, type Scope, type ScopedTenant, type TenantPlacement } from '@tenantry/core'
import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { ConnectionRoute } from '../../driver/route.ts'
import type { ScopeBinding, ScopeSetting } from '../../driver/scope-binding.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import type { DatabaseKey } from '../../pool-router/contract.ts'
import type { PoolRouter } from '../../pool-router/pool-router.ts'
import { newDriverStats, scopedKysely, type ScopedKyselyOptions } from '../scoped-kysely.ts'
import type { DatabaseProvisioner } from './provisioners.ts'

export interface DatabasePerTenantOptions {
  /** Serves connections to tenant databases under the global connection budget. */
  readonly router: PoolRouter
  /** Creates and drops tenant databases. */
  readonly provisioner: DatabaseProvisioner
  /** Server new tenants are placed on when provision() is not told. Default: the default server. */
  readonly defaultServer?: string
}

/** Runs DDL and seed statements in a newly provisioned tenant database. */
export type DatabaseSetup = (client: pg.ClientBase) => Promise<void>

/**
 * The database a tenant gets: `tenant_` and its id without dashes (from the id, so
 * a slug reused after a deletion never reaches the old tenant's data).
 */
export function tenantDatabaseName(tenant: Pick<ScopedTenant, 'id'>): string {
  if (!isUuid(tenant.id)) throw new TenantryError('VALIDATION_FAILED', 'tenant.id must be a UUID to derive a database name')
  return `tenant_${tenant.id.replaceAll('-', '').toLowerCase()}`
}

/** Where a tenant's database is: its placement's server and database, or the derived name. */
export function databaseKeyOf(tenant: ScopedTenant): DatabaseKey {
  const database = tenant.placement?.database ?? tenantDatabaseName(tenant)
  const server = tenant.placement?.server
  return server === undefined ? { database } : { server, database }
}

/**
 * Database per tenant: each tenant's tables live in a database of its own, possibly
 * on one of several servers. Connections come from the PoolRouter (lazy pools,
 * single-flight, LRU and idle eviction, one global budget); a tenant whose database
 * or server is down gets TENANT_DATABASE_UNAVAILABLE while every other tenant keeps
 * working.
 *
 * @example
 * const databases = new DatabasePerTenantIsolation({ router, provisioner: serverProvisioner({ default: adminUrl }) })
 * await catalog.setPlacement(tenant.id, await databases.provision(tenant, createTables))
 */
export class DatabasePerTenantIsolation {
  readonly model = 'database' as const
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly defaultServer: string | undefined
  readonly stats: DriverStats = newDriverStats()

  constructor(options: DatabasePerTenantOptions) {
    if (!options?.router || !options.provisioner) throw new TenantryError('VALIDATION_FAILED', 'DatabasePerTenantIsolation needs a router and a provisioner')
    this.router = options.router
    this.provisioner = options.provisioner
    this.defaultServer = options.defaultServer
  }

  /** Scopes may query only as a tenant: a system scope has no database here. */
  binding(): ScopeBinding {
    return {
      settingsFor(scope: Scope | undefined): readonly ScopeSetting[] {
        if (scope?.kind !== 'tenant') {
          throw new TenantryError('TENANT_CONTEXT_MISSING', scope === undefined
            ? 'No tenant in context: run tenant queries inside runWithTenant(tenant, fn)'
            : 'A system scope has no database in the database-per-tenant model; enter each tenant with runWithTenant(tenant, fn, { switch: true })')
        }
        assertServing(scope.tenant)
        return []
      },
    }
  }

  /** Connections from the router, to the database of the tenant in scope. */
  route(): ConnectionRoute {
    const binding = this.binding()
    return {
      acquire: async (scope) => {
        binding.settingsFor(scope)
        const tenant = (scope as Extract<Scope, { kind: 'tenant' }>).tenant
        const client = await this.router.acquire(databaseKeyOf(tenant))
        return { client, binding, release: (destroy) => client.release(destroy) }
      },
    }
  }

  /** A Kysely instance for this model's tenants (no rewrite; refusals and stamps apply). */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), { tables: [], appliesTo: () => false }, this.stats, options)
  }

  /**
   * Creates the tenant's database and runs `setup` in it (one transaction); returns
   * the placement to store in the catalog. A failed setup drops the database again.
   */
  async provision(tenant: ScopedTenant, setup?: DatabaseSetup, options: { server?: string } = {}): Promise<TenantPlacement> {
    const server = options.server ?? tenant.placement?.server ?? this.defaultServer
    const database = tenant.placement?.database ?? tenantDatabaseName(tenant)
    const key: DatabaseKey = server === undefined ? { database } : { server, database }
    await this.provisioner.create(key)
    // The router may remember this database as missing from an earlier request.
    await this.router.evict(key)
    try {
      if (setup) {
        await this.router.withClient(key, async (client) => {
          await client.query('begin')
          await setup(client)
          await client.query('commit')
        })
      }
    } catch (error) {
      await this.router.evict(key)
      await this.provisioner.drop(key).catch(() => undefined)
      throw error
    }
    return { ...(tenant.placement ?? {}), ...key }
  }

  /** Closes the tenant's connections and drops its database. */
  async deprovision(tenant: ScopedTenant): Promise<void> {
    const key = databaseKeyOf(tenant)
    await this.router.evict(key)
    await this.provisioner.drop(key)
  }
}
