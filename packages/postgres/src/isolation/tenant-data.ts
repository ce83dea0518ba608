import { TenantryError, type IsolationModelName, type QueryObserver, type Scope, type ScopedTenant } from '@tenantry/core'
import type { Kysely } from 'kysely'
import type { ConnectionRoute } from '../driver/route.ts'
import { TenantPool } from '../driver/scoped-pool.ts'
import { withScopedClient, type DriverStats, type ScopedClient } from '../driver/tenant-driver.ts'
import type { IsolationModel } from './model.ts'
import { newDriverStats, scopedKysely, type ScopedKyselyOptions } from './scoped-kysely.ts'

/** The models one process serves, by name. */
export interface TenantDataModels {
  readonly shared?: IsolationModel
  readonly schema?: IsolationModel
  readonly database?: IsolationModel
}

export interface TenantDataOptions {
  /**
   * Watches every query run in a tenant scope through this TenantData (its
   * Kysely, its pool and the pool's clients, withClient): metrics and traces
   * by tenant and model (`@tenantry/observability`). None by default, at no cost.
   */
  readonly queryObserver?: QueryObserver
}

const MODEL_NAMES: readonly IsolationModelName[] = ['shared', 'schema', 'database']

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
  readonly #models: ReadonlyMap<IsolationModelName, IsolationModel>
  readonly #routes: ReadonlyMap<IsolationModelName, ConnectionRoute>
  /** The model each scope's tenant was found in: the plugin and the driver ask once between them. */
  readonly #placed = new WeakMap<ScopedTenant, IsolationModel>()
  readonly stats: DriverStats = newDriverStats()
  #pool: TenantPool | undefined

  constructor(models: TenantDataModels, options: TenantDataOptions = {}) {
    const given = MODEL_NAMES.flatMap((name) => {
      const model = models?.[name]
      if (model === undefined) return []
      if (model.model !== name) throw new TenantryError('VALIDATION_FAILED', `TenantData: the ${name} model given is a ${model.model} model`)
      return [[name, model] as const]
    })
    if (given.length === 0) {
      throw new TenantryError('VALIDATION_FAILED', 'TenantData needs at least one isolation model (shared, schema or database)')
    }
    const observer = options?.queryObserver
    if (observer !== undefined && typeof (observer as { start?: unknown })?.start !== 'function') {
      throw new TenantryError('VALIDATION_FAILED', 'TenantData: options.queryObserver must be a QueryObserver (a start(tenant) method)')
    }
    this.stats.observer = observer
    this.#models = new Map(given)
    this.#routes = new Map(given.map(([name, model]) => [name, model.route()]))
  }

  /** The models this process serves. */
  get models(): readonly IsolationModel[] {
    return [...this.#models.values()]
  }

  /**
   * The model a tenant is placed in; ISOLATION_MISCONFIGURED for one this
   * process did not configure.
   *
   * @example
   * await data.modelOf(tenant).provision(tenant)
   */
  modelOf(tenant: ScopedTenant): IsolationModel {
    const known = this.#placed.get(tenant)
    if (known !== undefined) return known
    const name = tenant.isolation ?? 'shared'
    const model = this.#models.get(name)
    if (model === undefined) {
      throw new TenantryError('ISOLATION_MISCONFIGURED', `Tenant "${tenant.slug}" is placed in the ${name} model, which this process has not configured; pass it to TenantData`)
    }
    this.#placed.set(tenant, model)
    return model
  }

  /** The model of a kind, if this process serves it. */
  model(name: IsolationModelName): IsolationModel | undefined {
    return this.#models.get(name)
  }

  /** The connection route for the scope in force. */
  route(): ConnectionRoute {
    return { acquire: (scope) => this.#routeFor(scope).acquire(scope) }
  }

  #routeFor(scope: Scope | undefined): ConnectionRoute {
    // No scope: any route refuses it (TENANT_CONTEXT_MISSING), in one place, the driver's.
    if (scope === undefined || scope.kind === 'system') {
      return (this.#routes.get('shared') ?? this.#routes.get('schema') ?? this.#routes.get('database')) as ConnectionRoute
    }
    return this.#routes.get(this.modelOf(scope.tenant).model) as ConnectionRoute
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

  /**
   * A `pg.Pool` for the scope in force, wherever the tenant is placed: for plain
   * node-postgres and for ORMs built on it (Drizzle, Prisma's adapter-pg). See
   * TenantPool. One handle per TenantData.
   *
   * @example
   * const pool = data.pool()
   * await runWithTenant(tenant, () => pool.query('select * from projects where id = $1', [id]))
   */
  pool(): TenantPool {
    this.#pool ??= new TenantPool(this.route(), { stats: this.stats })
    return this.#pool
  }

  /** One Kysely instance for tenants of every configured model. */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    // Only the shared model rewrites: its tables are the plugin's.
    const shared = this.#models.get('shared')?.queryRules()
    return scopedKysely<DB>(
      this.route(),
      {
        tables: shared?.tables ?? [],
        tenantColumn: shared?.tenantColumn ?? 'tenant_id',
        filter: shared?.filter ?? false,
        rulesFor: (tenant) => this.modelOf(tenant).queryRules(),
      },
      this.stats,
      options,
    )
  }
}
