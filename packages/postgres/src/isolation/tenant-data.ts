import { TenantryError, type IsolationModelName, type Scope } from '@tenantry/core'
import type { Kysely } from 'kysely'
import type pg from 'pg'
import type { ConnectionRoute } from '../driver/route.ts'
import { withScopedClient, type DriverStats, type ScopedClient } from '../driver/tenant-driver.ts'
import type { DatabasePerTenantIsolation } from './database/database-per-tenant.ts'
import type { SchemaPerTenantIsolation } from './schema/schema-per-tenant.ts'
import { newDriverStats, scopedKysely, type ScopedKyselyOptions } from './scoped-kysely.ts'
import type { SharedSchemaIsolation } from './shared/shared-schema.ts'

export interface TenantDataModels {
  readonly shared?: SharedSchemaIsolation
  readonly schema?: SchemaPerTenantIsolation
  readonly database?: DatabasePerTenantIsolation
}

/**
 * One API over the three isolation models: a single Kysely instance whose every
 * query goes where the tenant in context is placed (`tenant.isolation` and
 * `tenant.placement`, as the catalog stores them). A shared tenant's queries get
 * the tenant filter and RLS settings; a schema tenant's get its search_path; a
 * database tenant's go to its own database through the pool router. The same
 * application code runs for all of them.
 *
 * System scopes run on the shared model's pool (or the schema model's).
 *
 * @example
 * const data = new TenantData({ shared, schema: schemas, database: databases })
 * const db = data.kysely<DB>()
 * const tenant = await catalog.requireBySlug(slug)   // isolation + placement from the catalog
 * await runWithTenant(tenant, () => db.selectFrom('projects').selectAll().execute())
 */
export class TenantData {
  readonly #models: TenantDataModels
  readonly #routes: Partial<Record<IsolationModelName, ConnectionRoute>>
  readonly stats: DriverStats = newDriverStats()

  constructor(models: TenantDataModels) {
    if (!models?.shared && !models?.schema && !models?.database) {
      throw new TenantryError('VALIDATION_FAILED', 'TenantData needs at least one isolation model (shared, schema or database)')
    }
    this.#models = models
    this.#routes = {
      shared: models.shared?.route(),
      schema: models.schema?.route(),
      database: models.database?.route(),
    }
  }

  /** The connection route for the scope in force. */
  route(): ConnectionRoute {
    return { acquire: (scope) => this.#routeFor(scope).acquire(scope) }
  }

  #routeFor(scope: Scope | undefined): ConnectionRoute {
    if (scope === undefined) {
      throw new TenantryError('TENANT_CONTEXT_MISSING', 'No tenant in context: run tenant queries inside runWithTenant(tenant, fn), or runAsSystem(reason, fn) for audited cross-tenant work')
    }
    if (scope.kind === 'system') {
      const route = this.#routes.shared ?? this.#routes.schema ?? this.#routes.database
      return route as ConnectionRoute
    }
    const model = scope.tenant.isolation ?? 'shared'
    const route = this.#routes[model]
    if (route === undefined) {
      throw new TenantryError('ISOLATION_MISCONFIGURED', `Tenant "${scope.tenant.slug}" is placed in the ${model} model, which this process has not configured; pass it to TenantData`)
    }
    return route
  }

  /**
   * A raw node-postgres client in one transaction of the current scope, wherever the
   * tenant is placed (see `withScopedClient`).
   *
   * @example
   * await runWithTenant(tenant, () => data.withClient((c) => c.query('select count(*) from projects')))
   */
  withClient<T>(fn: (client: ScopedClient) => Promise<T>): Promise<T> {
    return withScopedClient(this.route(), fn, { stats: this.stats })
  }

  /** One Kysely instance for tenants of every configured model. */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    const shared = this.#models.shared?.pluginOptions()
    return scopedKysely<DB>(
      this.route(),
      {
        tables: shared?.tables ?? [],
        tenantColumn: shared?.tenantColumn ?? 'tenant_id',
        filter: shared?.filter ?? false,
        appliesTo: (tenant) => shared !== undefined && (tenant.isolation ?? 'shared') === 'shared',
        // Tenants of the shared and schema models share one database with the
        // tenant schemas: a qualified name could reach another tenant's schema.
        allowedSchemas: (tenant) => {
          const model = tenant.isolation ?? 'shared'
          if (model === 'database') return 'any'
          return model === 'shared' && shared !== undefined ? [shared.schema] : []
        },
      },
      this.stats,
      options,
    )
  }
}
