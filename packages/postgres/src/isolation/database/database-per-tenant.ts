import { TenantryError, queryScope, type Scope, type ScopedTenant, type Tenant, type TenantPlacement } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { holdClient } from '../../driver/held-client.ts'
import { pinnedSearchPath } from '../shared/binding.ts'
import type { ConnectionRoute } from '../../driver/route.ts'
import type { ScopeBinding, ScopeSetting } from '../../driver/scope-binding.ts'
import { assertHealthy, type DoctorReport } from '../../doctor/report.ts'
import { doctorDatabasePerTenant } from '../../doctor/database-per-tenant.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import type { DatabaseKey } from '../../pool-router/contract.ts'
import { DEFAULT_SERVER } from '../../pool-router/contract.ts'
import { ensureRole, ensureRuntimeLoginsTable, installLoginPassword } from '../../walls/runtime-login.ts'
import type { PoolRouter } from '../../pool-router/pool-router.ts'
import type { MigrationTarget } from '../../migrations/targets.ts'
import type { DoctorOptions, IsolationModel, ProvisionOptions } from '../model.ts'
import { newDriverStats, scopedKysely, type ModelQueryRules, type ScopedKyselyOptions } from '../scoped-kysely.ts'
import { trustedFunctionsOf } from '../trusted-functions.ts'
import { databaseKeyOf, tenantDatabaseName, tenantRoleName } from './names.ts'
import type { DatabaseProvisioner } from './provisioners.ts'
import { PUBLIC_REACH_PROBE_SQL, publicReachRevokes, type PublicReachProbe } from './public-reach.ts'

export interface DatabasePerTenantOptions {
  /** Serves connections to tenant databases under the global connection budget. */
  readonly router: PoolRouter
  /** Creates and drops tenant databases. */
  readonly provisioner: DatabaseProvisioner
  /** Server new tenants are placed on when provision() is not told. Default: the default server. */
  readonly defaultServer?: string
  /**
   * The prefix of the role each tenant's transactions run as: every tenant
   * database has a role of its own, `<runtimeRole>_<tenant id, 32 hex>`, which
   * may connect to that database only, owns nothing there, and may not create
   * temporary objects. On PostgreSQL the router logs in as it (the key's
   * `login`); on PGlite each transaction switches to it. So even SQL that
   * changes its own role's password or settings reaches no other tenant.
   * Default `tenantry_app` (at most 30 characters).
   */
  readonly runtimeRole?: string
  /**
   * How each tenant role logs in on PostgreSQL: `'stored'` (default: provision()
   * generates a password, sets it, and keeps it in `tenantry.runtime_logins` of
   * the server's own database, where `serverDatabases` reads it) or `'none'`
   * (trust or certificate authentication: no password is set).
   */
  readonly runtimePassword?: 'stored' | 'none'
  /** Schemas of a tenant transaction's search_path (pg_temp is put last). Default `['public']`. */
  readonly searchPath?: readonly string[]
  /** SECURITY DEFINER functions a tenant role may call in its database, reviewed, by signature (`'public.f(integer)'`). */
  readonly trustedFunctions?: readonly string[]
}

/** Runs DDL and seed statements in a newly provisioned tenant database. */
export type DatabaseSetup = (client: pg.ClientBase) => Promise<void>

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * The grants of a tenant database, run in it as the owner (at provisioning and
 * after every migration that applied something): the runtime role may read and
 * write the tables of the search_path's schemas and use their sequences, now and
 * for tables added later; nobody but the owner may create temporary objects or
 * objects in `public`; run by a superuser, `PUBLIC` loses the large-object
 * functions and the server-wide database statistics (`public-reach.ts`). On a
 * cluster of its own (PGlite) the role is created here.
 *
 * Two round trips whatever the number of schemas: one statement finds the
 * database's name and what `PUBLIC` can still reach, then every grant and
 * revoke goes in one multi-statement query. No PL/pgSQL: a fleet migration
 * runs this on a new connection per tenant database, where loading PL/pgSQL
 * would cost more than the grants.
 *
 * @example
 * await installDatabaseWalls(client, { runtimeRole: 'tenantry_app', schemas: ['public'], createRole: true })
 */
export async function installDatabaseWalls(client: pg.ClientBase, options: { runtimeRole: string; schemas: readonly string[]; createRole: boolean }): Promise<void> {
  const role = pg.escapeIdentifier(options.runtimeRole)
  if (options.createRole) await ensureRole(client, options.runtimeRole, { login: false })
  const probe = (await client.query<PublicReachProbe>(PUBLIC_REACH_PROBE_SQL)).rows[0]
  if (probe === undefined) throw new TenantryError('INTERNAL', 'The tenant database did not say its name')
  const database = pg.escapeIdentifier(probe.database)
  const statements = [
    `revoke temporary on database ${database} from public`,
    `grant temporary on database ${database} to current_user`,
    'revoke create on schema public from public',
    ...publicReachRevokes(probe),
  ]
  for (const name of options.schemas) {
    const schema = pg.escapeIdentifier(name)
    statements.push(
      `grant usage on schema ${schema} to ${role}`,
      `grant select, insert, update, delete on all tables in schema ${schema} to ${role}`,
      `grant usage, select on all sequences in schema ${schema} to ${role}`,
      `alter default privileges in schema ${schema} grant select, insert, update, delete on tables to ${role}`,
      `alter default privileges in schema ${schema} grant usage, select on sequences to ${role}`,
    )
  }
  await client.query(statements.join(';\n'))
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
const DATABASE_RULES: ModelQueryRules = Object.freeze({ rewrite: false, allowedSchemas: 'any', tables: Object.freeze([]), tenantColumn: 'tenant_id', filter: false })

export class DatabasePerTenantIsolation implements IsolationModel {
  readonly model = 'database' as const
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly defaultServer: string | undefined
  readonly runtimeRole: string
  readonly runtimePassword: 'stored' | 'none'
  readonly searchPath: readonly string[]
  readonly trustedFunctions: readonly string[]
  readonly stats: DriverStats = newDriverStats()

  constructor(options: DatabasePerTenantOptions) {
    if (!options?.router || !options.provisioner) throw new TenantryError('VALIDATION_FAILED', 'DatabasePerTenantIsolation needs a router and a provisioner')
    const runtimeRole = options.runtimeRole ?? 'tenantry_app'
    const searchPath = options.searchPath ?? ['public']
    if (!IDENTIFIER.test(runtimeRole) || runtimeRole.length > 30) throw new TenantryError('VALIDATION_FAILED', 'runtimeRole must be a plain identifier of at most 30 characters (each tenant\'s role adds its id)')
    if (options.runtimePassword !== undefined && options.runtimePassword !== 'stored' && options.runtimePassword !== 'none') {
      throw new TenantryError('VALIDATION_FAILED', "runtimePassword must be 'stored' or 'none'")
    }
    if (!Array.isArray(searchPath) || searchPath.length === 0 || !searchPath.every((s) => IDENTIFIER.test(s) && s !== 'pg_temp')) {
      throw new TenantryError('VALIDATION_FAILED', 'searchPath must list at least one schema (plain identifiers; pg_temp is added last)')
    }
    this.trustedFunctions = trustedFunctionsOf(options.trustedFunctions, 'database-per-tenant')
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
    const path = pinnedSearchPath(this.searchPath)
    const roleOf = (tenant: ScopedTenant): string => tenantRoleName(this.runtimeRole, tenant)
    return {
      settingsFor(given: Scope | undefined): readonly ScopeSetting[] {
        const scope = queryScope(given)
        if (scope.kind !== 'tenant') {
          throw new TenantryError('TENANT_CONTEXT_MISSING', 'A system scope has no database in the database-per-tenant model; enter each tenant with runWithTenant(tenant, fn, { switch: true })')
        }
        return switchRole ? [{ name: 'role', value: roleOf(scope.tenant) }, path] : [path]
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
        const held = holdClient(await this.router.acquire({ ...databaseKeyOf(tenant), login: tenantRoleName(this.runtimeRole, tenant) }))
        return { client: held.client, binding, release: (destroy) => held.release(destroy), transactionStatus: () => held.transactionStatus() }
      },
    }
  }

  /** A Kysely instance for this model's tenants (no rewrite; refusals and stamps apply). */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), this.queryRules(), this.stats, options)
  }

  /** Not rewritten; any schema may be named (a statement cannot reach another database). */
  queryRules(): ModelQueryRules {
    return DATABASE_RULES
  }

  /** The tenant's database, migrated as the owner, with its ledger in the database itself. */
  migrationTarget(tenant: Tenant): MigrationTarget {
    const key = databaseKeyOf(tenant)
    return {
      set: 'tenant', key: tenant.id, model: 'database', tenant, ledger: 'local',
      label: `tenant ${tenant.slug} (database ${key.server ? `${key.server}/` : ''}${key.database})`,
      connect: async () => {
        const held = holdClient(await this.router.acquire(key))
        if (!this.router.separateLogins) return held
        // Closed, not kept idle, when the target is done: a run visits each database once, so an
        // idle owner connection would only hold a budget permit that the next database (or the
        // app's runtime pools) must reclaim, closing it before opening its own. (PGlite keeps its
        // one connection: it is the instance the app's transactions use too.)
        return { client: held.client, release: () => held.release(true) }
      },
      afterUp: (client) => this.installWalls(client, tenant),
    }
  }

  /**
   * Prepares every server the provisioner knows for tenant roles (the table that
   * keeps their passwords). Idempotent; a no-op for PGlite. Tenant roles
   * themselves are made by provision().
   */
  async install(): Promise<void> {
    const { servers, admin } = this.provisioner
    if (servers === undefined || admin === undefined || this.runtimePassword === 'none') return
    for (const server of servers) {
      await admin(server, async (client) => {
        await client.query("select pg_advisory_lock(hashtext('tenantry.database.install'))")
        try {
          await ensureRuntimeLoginsTable(client)
        } finally {
          await client.query("select pg_advisory_unlock(hashtext('tenantry.database.install'))")
        }
      })
    }
  }

  /** The grants a tenant database needs (see `installDatabaseWalls`); run by provision() and after migrations. */
  async installWalls(client: pg.ClientBase, tenant: ScopedTenant): Promise<void> {
    await installDatabaseWalls(client, { runtimeRole: tenantRoleName(this.runtimeRole, tenant), schemas: this.searchPath, createRole: !this.router.separateLogins })
  }

  /**
   * The tenant's role on its server (roles are cluster-wide): LOGIN with its own
   * password, safe attributes, CONNECT on its database only. PGlite gets it in
   * installWalls (each database is its own cluster).
   */
  async #createTenantRole(key: DatabaseKey, role: string): Promise<void> {
    const { admin } = this.provisioner
    if (admin === undefined || !this.router.separateLogins) return
    await admin(key.server ?? DEFAULT_SERVER, async (client) => {
      await ensureRole(client, role, { login: true })
      await installLoginPassword(client, role, this.runtimePassword === 'none' ? undefined : 'stored', { grantToOwner: false })
      const database = pg.escapeIdentifier(key.database)
      await client.query(`revoke connect, temporary on database ${database} from public`)
      await client.query(`grant connect on database ${database} to ${pg.escapeIdentifier(role)}`)
    })
  }

  /** Drops the tenant's role and forgets its password (after its database is gone). */
  async #dropTenantRole(key: DatabaseKey, role: string): Promise<void> {
    const { admin } = this.provisioner
    if (admin === undefined || !this.router.separateLogins) return
    await admin(key.server ?? DEFAULT_SERVER, async (client) => {
      await client.query(`drop role if exists ${pg.escapeIdentifier(role)}`)
      await client.query('delete from tenantry.runtime_logins where role = $1', [role]).catch(() => undefined)
    })
  }

  /**
   * Creates the tenant's database and runs `setup` in it (one transaction); returns
   * the placement to store in the catalog. A failed setup drops the database again.
   */
  async provision(tenant: ScopedTenant, setup?: DatabaseSetup | ProvisionOptions, options: ProvisionOptions = {}): Promise<TenantPlacement> {
    if (typeof setup === 'object') return this.provision(tenant, undefined, setup)
    const server = options.server ?? tenant.placement?.server ?? this.defaultServer
    const database = tenant.placement?.database ?? tenantDatabaseName(tenant)
    const key: DatabaseKey = server === undefined ? { database } : { server, database }
    const role = tenantRoleName(this.runtimeRole, tenant)
    await this.provisioner.create(key)
    // The router may remember this database as missing from an earlier request.
    await this.router.evict(key)
    try {
      await this.#createTenantRole(key, role)
      await this.router.withClient(key, async (client) => {
        await client.query('begin')
        if (typeof setup === 'function') await setup(client)
        await this.installWalls(client, tenant)
        await client.query('commit')
      })
    } catch (error) {
      await this.router.evict(key)
      await this.provisioner.drop(key).catch(() => undefined)
      await this.#dropTenantRole(key, role).catch(() => undefined)
      throw error
    }
    return { ...(tenant.placement ?? {}), ...key }
  }

  /** Closes the tenant's connections, drops its database and its role. */
  async deprovision(tenant: ScopedTenant): Promise<void> {
    const key = databaseKeyOf(tenant)
    await this.router.evict(key)
    await this.provisioner.drop(key)
    await this.#dropTenantRole(key, tenantRoleName(this.runtimeRole, tenant))
  }

  /** Checks the tenants' databases given (their roles, grants, what their roles can reach); see docs/doctor.md. */
  doctor(options: DoctorOptions = {}): Promise<DoctorReport> {
    return doctorDatabasePerTenant({
      router: this.router, searchPath: this.searchPath, trustedFunctions: this.trustedFunctions,
      keyOf: databaseKeyOf, roleOf: (tenant) => tenantRoleName(this.runtimeRole, tenant),
    }, options)
  }

  /** Runs doctor() and throws ISOLATION_MISCONFIGURED when it finds an error. */
  async assertSafe(options: DoctorOptions = {}): Promise<DoctorReport> {
    const report = await this.doctor(options)
    assertHealthy(report)
    return report
  }

  /** The router's connections are the caller's to close (`router.close()`). */
  async close(): Promise<void> {}
}
