import { TenantryError, queryScope, type Scope, type ScopedTenant, type Tenant, type TenantPlacement } from '@tenantry/core'
import pg from 'pg'
import type { Kysely } from 'kysely'
import { inTransaction, type Queryable } from '../../catalog/transaction.ts'
import { databaseRoute, type ConnectionRoute } from '../../driver/route.ts'
import { ScopeSettingsMemo, type ScopeBinding, type ScopeSetting } from '../../driver/scope-binding.ts'
import type { PostgresTarget } from '../../driver/target.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import { assertHealthy, type DoctorReport } from '../../doctor/report.ts'
import { doctorSchemaPerTenant } from '../../doctor/schema-per-tenant.ts'
import { RuntimeAccess, type RuntimeLogin } from '../../walls/runtime-login.ts'
import { ScopeGuard } from '../../walls/scope-guard.ts'
import type { ScopeSigner } from '../../walls/scope-signer.ts'
import { poolConnection, type MigrationTarget } from '../../migrations/targets.ts'
import type { IsolationModel } from '../model.ts'
import { newDriverStats, scopedKysely, type ModelQueryRules, type ScopedKyselyOptions } from '../scoped-kysely.ts'
import { trustedFunctionsOf } from '../trusted-functions.ts'
import { schemaOf } from './names.ts'
import { tenantTransactionSettings } from '../shared/binding.ts'
import { installSchemaWalls } from './schema-walls.ts'

export interface SchemaPerTenantOptions {
  /**
   * Role tenant transactions run as. Default `tenantry_app` (the shared model's
   * default too: one runtime role may serve both). `provision()` grants it the
   * tenant's schema.
   */
  readonly runtimeRole?: string
  /** How tenant transactions reach it (see `RuntimeLogin`): on PostgreSQL a pool that logs in as it. */
  readonly runtimeLogin?: RuntimeLogin
  /** SECURITY DEFINER functions the runtime role may call, reviewed as tenant-safe, by signature (`'public.f(integer)'`). */
  readonly trustedFunctions?: readonly string[]
  /**
   * Grant the runtime role the sequences of every tenant schema, for `serial`
   * columns. Off by default: one role serves every schema, so any tenant's SQL
   * could then advance (and count) another tenant's sequence. Use
   * `generated always as identity`, which needs no grant.
   */
  readonly sequenceGrants?: boolean
}

/** Runs DDL and seed statements inside a newly provisioned tenant schema. */
export type SchemaSetup = (client: pg.ClientBase) => Promise<void>

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

const SCHEMA_RULES: ModelQueryRules = Object.freeze({ rewrite: false, allowedSchemas: Object.freeze([]), tables: Object.freeze([]), tenantColumn: 'tenant_id', filter: false })

/**
 * Schema per tenant: each tenant's tables live in its own schema. Every tenant
 * transaction pins `search_path` to it (transaction-local; `pg_temp` last; a
 * missing schema is TENANT_PLACEMENT_MISSING, never a query against `public`)
 * and carries the tenant's signed scope. Every table of a tenant schema is
 * behind row-level security that admits only that tenant's scope, so one
 * runtime role serves every schema and yet a tenant's SQL that names another
 * schema (or runs a query string through `query_to_xml`) sees nothing there.
 *
 * @example
 * const schemas = new SchemaPerTenantIsolation(target)
 * await schemas.install()
 * const placement = await schemas.provision(tenant, (c) => c.query('create table projects (…)'))
 * await catalog.setPlacement(tenant.id, placement)
 */
export class SchemaPerTenantIsolation implements IsolationModel {
  readonly model = 'schema' as const
  readonly target: PostgresTarget
  readonly runtimeRole: string
  readonly runtime: RuntimeAccess
  readonly guard: ScopeGuard
  readonly trustedFunctions: readonly string[]
  readonly sequenceGrants: boolean
  readonly stats: DriverStats = newDriverStats()
  #signer: ScopeSigner | undefined
  /** Recent tenants' transaction settings, by scope token and schema. */
  readonly #settings = new ScopeSettingsMemo()

  constructor(target: PostgresTarget, options: SchemaPerTenantOptions = {}) {
    const given = (options as { runtimeRole?: unknown }).runtimeRole
    const role = given === undefined ? 'tenantry_app' : given
    if (typeof role !== 'string' || !IDENTIFIER.test(role)) {
      throw new TenantryError('VALIDATION_FAILED', 'Invalid schema-per-tenant options: runtimeRole must be a plain identifier (tenant transactions always run as a runtime role)')
    }
    this.trustedFunctions = trustedFunctionsOf(options.trustedFunctions, 'schema-per-tenant')
    this.target = target
    this.runtimeRole = role
    this.runtime = new RuntimeAccess(target, { role, login: options.runtimeLogin })
    this.guard = new ScopeGuard(target)
    this.sequenceGrants = options.sequenceGrants === true
  }

  /**
   * A Kysely instance for this model's tenants: queries are not rewritten (the
   * tables carry no tenant column) but still refused outside a scope, stamped, and
   * sent with the tenant's search_path and scope in one round trip.
   */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), this.queryRules(), this.stats, options)
  }

  /** Not rewritten (the tables carry no tenant column); no schema may be named (it could be another tenant's). */
  queryRules(): ModelQueryRules {
    return SCHEMA_RULES
  }

  /** The tenant's schema, migrated with its ledger in the control plane. */
  migrationTarget(tenant: Tenant): MigrationTarget {
    return {
      set: 'tenant', key: tenant.id, model: 'schema', tenant, schema: schemaOf(tenant), ledger: 'control',
      label: `tenant ${tenant.slug} (schema)`, connect: poolConnection(this.target.pool),
      afterUp: (client) => this.installWalls(client, tenant),
      enter: (client, local = true) => this.guard.enter(client, tenant.id, local),
    }
  }

  /** Where this model's queries run: tenant scopes on the runtime pool, the system scope on the owner's. */
  route(): ConnectionRoute {
    return databaseRoute({
      owner: this.target.pool,
      runtime: () => (this.#signer !== undefined && this.runtime.openedPool()) || this.ready(),
      binding: this.binding(),
      scopeRefused: () => this.guard.refreshSoon(),
      checkLoginDefaults: this.runtime.mode === 'login' && this.runtime.loginUser !== undefined,
    })
  }

  /** Opens the runtime pool and loads the scope signer; tenant queries wait for it once. */
  async ready(): Promise<pg.Pool> {
    const [pool, signer] = await Promise.all([this.runtime.pool(), this.guard.signer()])
    this.#signer = signer
    return pool
  }

  /** Transaction settings: the runtime role if switched, the tenant's search_path (checked to exist) and its scope. */
  binding(): ScopeBinding {
    return {
      settingsFor: (given: Scope | undefined): readonly ScopeSetting[] => {
        const scope = queryScope(given)
        if (scope.kind === 'system') return []
        if (this.#signer === undefined) throw new TenantryError('INTERNAL', 'The scope signer is not loaded; tenant connections come from route().acquire, which loads it')
        // Not pinnedSearchPath's plain text: a tenant's schema may be missing (not yet
        // provisioned, deprovisioned, a wrong placement), and PostgreSQL takes a text
        // search_path naming a missing schema without a word and skips it. The tenant's
        // SQL would then run with no schema of its own: unqualified names would fail as
        // "relation does not exist" (42P01), which reads as a bug in the application,
        // or resolve to whatever pg_catalog holds by that name. Cast through
        // regnamespace in the statement that sets it, a missing schema fails the
        // transaction before the query runs (3F000, TENANT_PLACEMENT_MISSING). It is
        // still pinned, per transaction and with pg_temp last (see pinnedSearchPath):
        // unpinned, the login's search_path would send unqualified names to public.
        const schema = pg.escapeIdentifier(schemaOf(scope.tenant))
        const token = this.#signer.tokenFor(scope.tenant.id)
        return this.#settings.get(`${token}\u0000${schema}`, () => tenantTransactionSettings(this.runtime, { name: 'search_path', schemas: [schema] }, token))
      },
    }
  }

  /**
   * Installs the scope guard and the runtime role (LOGIN on PostgreSQL, not
   * superuser, not BYPASSRLS, no TEMPORARY). Idempotent.
   */
  async install(): Promise<void> {
    await inTransaction(this.target.pool, (client) => this.installIn(client))
  }

  /** `install()` inside a transaction the caller holds. */
  async installIn(client: pg.ClientBase): Promise<void> {
    await this.guard.install(client)
    await this.runtime.install(client)
  }

  /**
   * Creates the tenant's schema and runs `setup` inside it, then puts every
   * table there behind the tenant's walls, in one transaction; returns the
   * placement to store in the catalog. Idempotent for the schema.
   */
  async provision(tenant: ScopedTenant, setup?: SchemaSetup | object): Promise<TenantPlacement> {
    const schema = schemaOf(tenant)
    const quoted = pg.escapeIdentifier(schema)
    await inTransaction(this.target.pool, async (client) => {
      await client.query(`create schema if not exists ${quoted}`)
      await client.query(`select set_config('search_path', $1, true)`, [quoted])
      await this.guard.enter(client, tenant.id)
      if (typeof setup === 'function') await setup(client)
      await this.installWalls(client, tenant)
    })
    return { ...(tenant.placement ?? {}), schema }
  }

  /** Puts the tenant schema's tables behind their walls (see `installSchemaWalls`); for migrations that add tables. */
  async installWalls(client: Queryable, tenant: ScopedTenant): Promise<void> {
    await installSchemaWalls(client, schemaOf(tenant), tenant.id, this.runtimeRole, { sequences: this.sequenceGrants })
  }

  /** Drops the tenant's schema and everything in it. */
  async deprovision(tenant: ScopedTenant): Promise<void> {
    await this.target.pool.query(`drop schema if exists ${pg.escapeIdentifier(schemaOf(tenant))} cascade`)
  }

  /** Checks the runtime role, the guard and every tenant schema's walls; see docs/doctor.md. */
  doctor(): Promise<DoctorReport> {
    return doctorSchemaPerTenant(this)
  }

  /** Runs doctor() and throws ISOLATION_MISCONFIGURED when it finds an error. */
  async assertSafe(): Promise<DoctorReport> {
    const report = await this.doctor()
    assertHealthy(report)
    return report
  }

  /** Closes the runtime login pool this model opened. */
  async close(): Promise<void> {
    await this.runtime.close()
  }
}
