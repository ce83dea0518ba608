import { TenantryError, assertServing, isUuid, type Scope, type ScopedTenant, type TenantPlacement } from '@tenantry/core'
import pg from 'pg'
import type { Kysely } from 'kysely'
import { poolRoute, type ConnectionRoute } from '../../driver/route.ts'
import type { ScopeBinding, ScopeSetting } from '../../driver/scope-binding.ts'
import type { PostgresTarget } from '../../driver/target.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import { newDriverStats, scopedKysely, type ScopedKyselyOptions } from '../scoped-kysely.ts'

export interface SchemaPerTenantOptions {
  /**
   * Role tenant transactions switch to (transaction-locally). Default null: run as
   * the connecting role. With a role, `provision()` grants it the tenant's schema.
   */
  readonly runtimeRole?: string | null
}

/** Runs DDL and seed statements inside a newly provisioned tenant schema. */
export type SchemaSetup = (client: pg.ClientBase) => Promise<void>

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * The schema a tenant gets: `tenant_` and its id without dashes. Derived from the
 * id, not the slug, so a slug freed by a deleted tenant can never reach the old
 * tenant's schema, and a name is always a valid identifier (39 characters).
 */
export function tenantSchemaName(tenant: Pick<ScopedTenant, 'id'>): string {
  if (!isUuid(tenant.id)) throw new TenantryError('VALIDATION_FAILED', 'tenant.id must be a UUID to derive a schema name')
  return `tenant_${tenant.id.replaceAll('-', '').toLowerCase()}`
}

/** The schema a tenant is placed in: its placement's, or the derived name. */
export function schemaOf(tenant: ScopedTenant): string {
  const schema = tenant.placement?.schema ?? tenantSchemaName(tenant)
  if (!IDENTIFIER.test(schema)) throw new TenantryError('ISOLATION_MISCONFIGURED', `The stored schema name "${schema}" of tenant "${tenant.slug}" is not a plain identifier; fix the tenant's placement in the catalog`)
  return schema
}

/**
 * Schema per tenant: each tenant's tables live in its own schema, and every tenant
 * transaction sets `search_path` to it with `set_config('search_path', …, true)`
 * (transaction-local, like `SET LOCAL`, so a transaction pooler cannot carry one
 * tenant's path to the next client). The schema's existence is checked in the same
 * statement: a missing schema is TENANT_PLACEMENT_MISSING, never a query against
 * `public`.
 *
 * @example
 * const schemas = new SchemaPerTenantIsolation(target)
 * const placement = await schemas.provision(tenant, (c) => c.query('create table projects (…)'))
 * await catalog.setPlacement(tenant.id, placement)
 */
export class SchemaPerTenantIsolation {
  readonly model = 'schema' as const
  readonly target: PostgresTarget
  readonly runtimeRole: string | null
  readonly stats: DriverStats = newDriverStats()

  constructor(target: PostgresTarget, options: SchemaPerTenantOptions = {}) {
    const problems: string[] = []
    const role = options.runtimeRole ?? null
    if (role !== null && !IDENTIFIER.test(role)) problems.push('runtimeRole must be a plain identifier or null')
    if (problems.length) throw new TenantryError('VALIDATION_FAILED', `Invalid schema-per-tenant options: ${problems.join('; ')}`)
    this.target = target
    this.runtimeRole = role
  }

  /**
   * A Kysely instance for this model's tenants: queries are not rewritten (the
   * tables carry no tenant column) but still refused outside a scope, stamped, and
   * sent with the tenant's search_path in one round trip.
   */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), { tables: [], appliesTo: () => false, allowedSchemas: () => [] }, this.stats, options)
  }

  /** Where this model's queries run: the target's pool, with the tenant's search_path. */
  route(): ConnectionRoute {
    return poolRoute(this.target.pool, this.binding())
  }

  /** Transaction settings: the tenant's search_path (checked to exist) and the role. */
  binding(): ScopeBinding {
    return {
      settingsFor: (scope: Scope | undefined): readonly ScopeSetting[] => {
        if (scope === undefined) {
          throw new TenantryError('TENANT_CONTEXT_MISSING', 'No tenant in context: run tenant queries inside runWithTenant(tenant, fn), or runAsSystem(reason, fn) for audited cross-tenant work')
        }
        if (scope.kind === 'system') return []
        assertServing(scope.tenant)
        const settings: ScopeSetting[] = [{ name: 'search_path', value: pg.escapeIdentifier(schemaOf(scope.tenant)), check: 'search_path' }]
        if (this.runtimeRole !== null) settings.push({ name: 'role', value: this.runtimeRole })
        return settings
      },
    }
  }

  /**
   * Creates the runtime role if it is missing (NOLOGIN, not superuser, not
   * BYPASSRLS) and lets the connecting role switch to it. Idempotent; a no-op
   * without a runtime role.
   */
  async install(): Promise<void> {
    if (this.runtimeRole === null) return
    const role = this.runtimeRole
    await this.target.pool.query(`do $$ begin
        if not exists (select 1 from pg_roles where rolname = ${pg.escapeLiteral(role)}) then
          create role ${pg.escapeIdentifier(role)} nologin nosuperuser nobypassrls;
        end if;
        if not exists (select 1 from pg_roles where rolname = current_user and rolsuper) then
          execute format('grant %I to %I', ${pg.escapeLiteral(role)}, current_user);
        end if;
      exception when duplicate_object then null;
      end $$`)
  }

  /**
   * Creates the tenant's schema and runs `setup` inside it, in one transaction;
   * returns the placement to store in the catalog. Idempotent for the schema.
   */
  async provision(tenant: ScopedTenant, setup?: SchemaSetup): Promise<TenantPlacement> {
    const schema = schemaOf(tenant)
    const quoted = pg.escapeIdentifier(schema)
    const client = await this.target.pool.connect()
    try {
      await client.query('begin')
      await client.query(`create schema if not exists ${quoted}`)
      await client.query(`select set_config('search_path', $1, true)`, [quoted])
      if (setup) await setup(client)
      if (this.runtimeRole !== null) {
        const role = pg.escapeIdentifier(this.runtimeRole)
        await client.query(`grant usage on schema ${quoted} to ${role}`)
        await client.query(`grant select, insert, update, delete on all tables in schema ${quoted} to ${role}`)
        await client.query(`grant usage, select on all sequences in schema ${quoted} to ${role}`)
        // Tables a later migration adds to this schema get the same grants.
        await client.query(`alter default privileges in schema ${quoted} grant select, insert, update, delete on tables to ${role}`)
        await client.query(`alter default privileges in schema ${quoted} grant usage, select on sequences to ${role}`)
      }
      await client.query('commit')
      return { ...(tenant.placement ?? {}), schema }
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }

  /** Drops the tenant's schema and everything in it. */
  async deprovision(tenant: ScopedTenant): Promise<void> {
    await this.target.pool.query(`drop schema if exists ${pg.escapeIdentifier(schemaOf(tenant))} cascade`)
  }
}
