import { TenantryError, assertServing, isUuid, type Scope, type ScopedTenant, type TenantPlacement } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import type { ConnectionRoute } from '../../driver/route.ts'
import type { ScopeBinding, ScopeSetting } from '../../driver/scope-binding.ts'
import { assertHealthy, type DoctorReport } from '../../doctor/report.ts'
import { doctorDatabasePerTenant } from '../../doctor/database-per-tenant.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import type { DatabaseKey } from '../../pool-router/contract.ts'
import { ensureRole, installLoginPassword } from '../../walls/runtime-login.ts'
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
  /**
   * The role tenant transactions run as in every tenant database: not the
   * owner, not superuser, no TEMPORARY. On PostgreSQL the router logs in as it
   * (the key's `login`); on PGlite each transaction switches to it. Default
   * `tenantry_app`.
   */
  readonly runtimeRole?: string
  /**
   * The runtime login's password on every server, set by install(): `'stored'`
   * (default: generated once per server and kept in the server database's
   * `tenantry.runtime_logins`, where `serverDatabases` reads it), a string, or
   * `'none'` (trust or certificate authentication).
   */
  readonly runtimePassword?: string
  /** Schemas of a tenant transaction's search_path (pg_temp is put last). Default `['public']`. */
  readonly searchPath?: readonly string[]
}

/** Runs DDL and seed statements in a newly provisioned tenant database. */
export type DatabaseSetup = (client: pg.ClientBase) => Promise<void>

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

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
 * The grants of a tenant database, run in it as the owner (at provisioning and
 * after every migration that applied something): the runtime role may read and
 * write the tables of the search_path's schemas and use their sequences, now and
 * for tables added later; nobody but the owner may create temporary objects or
 * objects in `public`. On a cluster of its own (PGlite) the role is created here.
 *
 * @example
 * await installDatabaseWalls(client, { runtimeRole: 'tenantry_app', schemas: ['public'], createRole: true })
 */
export async function installDatabaseWalls(client: pg.ClientBase, options: { runtimeRole: string; schemas: readonly string[]; createRole: boolean }): Promise<void> {
  const role = pg.escapeIdentifier(options.runtimeRole)
  if (options.createRole) await ensureRole(client, options.runtimeRole, { login: false })
  await client.query(`do $$ begin
      execute format('revoke temporary on database %I from public', current_database());
      execute format('grant temporary on database %I to %I', current_database(), current_user);
    end $$`)
  await client.query('revoke create on schema public from public')
  for (const name of options.schemas) {
    const schema = pg.escapeIdentifier(name)
    await client.query(`grant usage on schema ${schema} to ${role}`)
    await client.query(`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`)
    await client.query(`grant usage, select on all sequences in schema ${schema} to ${role}`)
    await client.query(`alter default privileges in schema ${schema} grant select, insert, update, delete on tables to ${role}`)
    await client.query(`alter default privileges in schema ${schema} grant usage, select on sequences to ${role}`)
  }
}

/**
 * Database per tenant: each tenant's tables live in a database of its own, possibly
 * on one of several servers. Connections come from the PoolRouter (lazy pools,
 * single-flight, LRU and idle eviction, one global budget); a tenant whose database
 * or server is down gets TENANT_DATABASE_UNAVAILABLE while every other tenant keeps
 * working. Tenant transactions run as the runtime role, never the owner, with a
 * pinned search_path.
 *
 * @example
 * const databases = new DatabasePerTenantIsolation({ router, provisioner: serverProvisioner({ default: adminUrl }) })
 * await databases.install()
 * await catalog.setPlacement(tenant.id, await databases.provision(tenant, createTables))
 */
export class DatabasePerTenantIsolation {
  readonly model = 'database' as const
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly defaultServer: string | undefined
  readonly runtimeRole: string
  readonly runtimePassword: string
  readonly searchPath: readonly string[]
  readonly stats: DriverStats = newDriverStats()

  constructor(options: DatabasePerTenantOptions) {
    if (!options?.router || !options.provisioner) throw new TenantryError('VALIDATION_FAILED', 'DatabasePerTenantIsolation needs a router and a provisioner')
    const runtimeRole = options.runtimeRole ?? 'tenantry_app'
    const searchPath = options.searchPath ?? ['public']
    if (!IDENTIFIER.test(runtimeRole)) throw new TenantryError('VALIDATION_FAILED', 'runtimeRole must be a plain identifier')
    if (!Array.isArray(searchPath) || searchPath.length === 0 || !searchPath.every((s) => IDENTIFIER.test(s) && s !== 'pg_temp')) {
      throw new TenantryError('VALIDATION_FAILED', 'searchPath must list at least one schema (plain identifiers; pg_temp is added last)')
    }
    this.router = options.router
    this.provisioner = options.provisioner
    this.defaultServer = options.defaultServer
    this.runtimeRole = runtimeRole
    this.runtimePassword = options.runtimePassword ?? 'stored'
    this.searchPath = [...searchPath]
  }

  /** Scopes may query only as a tenant: a system scope has no database here. */
  binding(): ScopeBinding {
    const switchRole = !this.router.separateLogins
    const path: ScopeSetting = { name: 'search_path', schemas: this.searchPath.map((s) => pg.escapeIdentifier(s)) }
    const tenantSettings: readonly ScopeSetting[] = switchRole ? [{ name: 'role', value: this.runtimeRole }, path] : [path]
    return {
      settingsFor(scope: Scope | undefined): readonly ScopeSetting[] {
        if (scope?.kind !== 'tenant') {
          throw new TenantryError('TENANT_CONTEXT_MISSING', scope === undefined
            ? 'No tenant in context: run tenant queries inside runWithTenant(tenant, fn)'
            : 'A system scope has no database in the database-per-tenant model; enter each tenant with runWithTenant(tenant, fn, { switch: true })')
        }
        assertServing(scope.tenant)
        return tenantSettings
      },
    }
  }

  /** Connections from the router, to the database of the tenant in scope, logged in as the runtime role. */
  route(): ConnectionRoute {
    const binding = this.binding()
    return {
      acquire: async (scope) => {
        binding.settingsFor(scope)
        const tenant = (scope as Extract<Scope, { kind: 'tenant' }>).tenant
        const client = await this.router.acquire({ ...databaseKeyOf(tenant), login: this.runtimeRole })
        return { client, binding, release: (destroy) => client.release(destroy) }
      },
    }
  }

  /** A Kysely instance for this model's tenants (no rewrite; refusals and stamps apply). */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), { tables: [], appliesTo: () => false }, this.stats, options)
  }

  /**
   * Creates the runtime login on every server the provisioner knows (roles are
   * cluster-wide: LOGIN, not superuser, not BYPASSRLS, nothing to create), with
   * its password. Idempotent; a no-op for PGlite, whose tenant databases get the
   * role when they are provisioned.
   */
  async install(): Promise<void> {
    const { servers, admin } = this.provisioner
    if (servers === undefined || admin === undefined) return
    for (const server of servers) {
      await admin(server, async (client) => {
        await client.query('begin')
        try {
          await client.query("select pg_advisory_xact_lock(hashtext('tenantry.database.install'))")
          await ensureRole(client, this.runtimeRole, { login: true })
          await installLoginPassword(client, this.runtimeRole, this.runtimePassword === 'none' ? undefined : this.runtimePassword)
          await client.query('commit')
        } catch (error) {
          await client.query('rollback').catch(() => undefined)
          throw error
        }
      })
    }
  }

  /** The grants a tenant database needs (see `installDatabaseWalls`); run by provision() and after migrations. */
  async installWalls(client: pg.ClientBase): Promise<void> {
    await installDatabaseWalls(client, { runtimeRole: this.runtimeRole, schemas: this.searchPath, createRole: !this.router.separateLogins })
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
      await this.router.withClient(key, async (client) => {
        await client.query('begin')
        if (setup) await setup(client)
        await this.installWalls(client)
        await client.query('commit')
      })
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

  /** Checks the runtime login on every server (and, given tenants, their databases); see docs/doctor.md. */
  doctor(options: { tenants?: readonly ScopedTenant[] } = {}): Promise<DoctorReport> {
    return doctorDatabasePerTenant({ router: this.router, provisioner: this.provisioner, runtimeRole: this.runtimeRole, searchPath: this.searchPath, keyOf: databaseKeyOf }, options)
  }

  /** Runs doctor() and throws ISOLATION_MISCONFIGURED when it finds an error. */
  async assertSafe(options: { tenants?: readonly ScopedTenant[] } = {}): Promise<DoctorReport> {
    const report = await this.doctor(options)
    assertHealthy(report)
    return report
  }
}
