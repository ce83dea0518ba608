import { TenantryError, isUuid, parseNewTenant, parseTenantPatch, type IsolationModelName, type NewTenantInput, type PlanRegistry, type TenantPatchInput } from '@tenantry/core'
import type { ApiKeyInfo, TenantRecord } from '../catalog/rows.ts'
import type { CreatedApiKey } from '../catalog/api-keys.ts'
import type { Attribution } from '../catalog/arguments.ts'
import type { TenantCatalog } from '../catalog/tenant-catalog.ts'
import type { TenantListQuery, TenantPage } from '../catalog/tenants.ts'
import type { TenantData } from '../isolation/tenant-data.ts'
import type { FleetMigrator } from '../migrations/fleet-migrator.ts'

export interface TenantLifecycleOptions {
  readonly catalog: TenantCatalog
  /** The isolation models this deployment serves. */
  readonly data: TenantData
  /** Brings a new tenant's schema or database to the latest tenant migration. Without it, provisioning runs no migration. */
  readonly migrator?: FleetMigrator
  /** The plans a tenant may be on, and how each checks settings. Without it, any plan name the catalog accepts. */
  readonly plans?: PlanRegistry
  /** The model of a tenant created without `isolation`. Default: the first of shared, schema, database that `data` serves. */
  readonly defaultIsolation?: IsolationModelName
}

/** Where a new tenant goes (the database model: which server) and who asked. */
export interface CreateOptions extends Attribution {
  readonly server?: string
}

/**
 * The tenant's whole life in one place: creating a tenant makes its place in
 * its isolation model and brings it to the latest migration before it serves;
 * offboarding fences it, removes its data and frees its slug; plans, settings,
 * API keys and domains change through it. The reference SaaS's admin API and
 * the `tenantry tenants` commands call it; `createTenantry()` builds it.
 *
 * A tenant is named by its slug or its id everywhere (`ref`).
 *
 * @example
 * const lifecycle = new TenantLifecycle({ catalog, data, migrator, plans })
 * const globex = await lifecycle.create({ slug: 'globex', name: 'Globex', isolation: 'schema' })
 * const { key } = await lifecycle.createApiKey('globex', { name: 'CI' })
 * await lifecycle.offboard('globex')
 */
export class TenantLifecycle {
  readonly catalog: TenantCatalog
  readonly #data: TenantData
  readonly #migrator: FleetMigrator | undefined
  readonly #plans: PlanRegistry | undefined
  /** The model a tenant created without `isolation` gets. */
  readonly defaultIsolation: IsolationModelName

  constructor(options: TenantLifecycleOptions) {
    if (!options?.catalog || !options.data) throw new TenantryError('VALIDATION_FAILED', 'TenantLifecycle needs { catalog, data }')
    this.catalog = options.catalog
    this.#data = options.data
    this.#migrator = options.migrator
    this.#plans = options.plans
    const served = options.data.models.map((m) => m.model)
    const fallback = served[0]
    if (fallback === undefined) throw new TenantryError('VALIDATION_FAILED', 'TenantLifecycle needs data that serves at least one isolation model')
    const wanted = options.defaultIsolation ?? fallback
    if (!served.includes(wanted)) {
      throw new TenantryError('VALIDATION_FAILED', `defaultIsolation "${wanted}" is not a model this deployment serves (${served.join(', ')})`, {
        details: [{ path: 'defaultIsolation', message: `must be one of ${served.join(', ')}` }],
      })
    }
    this.defaultIsolation = wanted
  }

  /** The plans tenants may be on, if the deployment defines them. */
  get plans(): PlanRegistry | undefined {
    return this.#plans
  }

  /**
   * Creates a tenant and makes it ready: `provisioning` in the catalog, its
   * schema or database made and migrated to the latest tenant migration, its
   * placement stored, then `active`. Nothing is written for an unknown plan or
   * ill-typed settings (VALIDATION_FAILED), or a model this process does not
   * serve (ISOLATION_MISCONFIGURED). If making its place fails, what was made
   * is removed, the slug is freed and the error rethrown.
   *
   * @example
   * const initech = await lifecycle.create({ slug: 'initech', name: 'Initech', isolation: 'database' }, { server: 'eu-1' })
   */
  async create(given: NewTenantInput, options: CreateOptions = {}): Promise<TenantRecord> {
    // Parsed first (each field read once, the settings as they will be stored): the plans check what the catalog stores.
    const input = parseNewTenant(given)
    this.#plans?.assertValid({ plan: input.plan ?? this.#plans.defaultPlan, settings: input.settings })
    const isolation = input.isolation ?? this.defaultIsolation
    // Refuse a model this process cannot provision before the catalog holds anything.
    const model = this.#data.modelOf({ id: '00000000-0000-4000-8000-000000000000', slug: input.slug, status: 'active', isolation })
    const withPlan = { ...input, isolation, ...(this.#plans !== undefined && input.plan === undefined ? { plan: this.#plans.defaultPlan } : {}) }
    const attribution = attributionOf(options)
    const created = await this.catalog.create(withPlan, { ...attribution, activate: false })
    let placed: TenantRecord | undefined
    try {
      const placement = await model.provision(created, options.server === undefined ? {} : { server: options.server })
      placed = { ...created, placement }
      if (this.#migrator !== undefined) {
        const outcome = await this.#migrator.migrateTenant(placed)
        if (outcome.status === 'failed') throw outcome.error ?? new TenantryError('MIGRATION_FAILED', `The migrations of tenant "${created.slug}" failed`)
      }
      if (created.isolation !== 'shared') await this.catalog.setPlacement(created.id, placement, attribution)
      return await this.catalog.activate(created.id, attribution)
    } catch (error) {
      if (placed !== undefined) {
        await model.deprovision(placed).catch(() => undefined)
        await this.#migrator?.forget(placed).catch(() => undefined)
      }
      await this.catalog.beginOffboarding(created.id, attribution)
        .then(() => this.catalog.markDeleted(created.id, attribution))
        .catch(() => undefined)
      throw error
    }
  }

  /** The live tenant named by slug or id; TENANT_NOT_FOUND otherwise (deleted ones included). */
  async get(ref: string): Promise<TenantRecord> {
    const tenant = isUuid(ref) ? await this.catalog.getById(ref) : await this.catalog.getBySlug(ref)
    if (tenant === undefined) throw new TenantryError('TENANT_NOT_FOUND', `No tenant "${ref}"`)
    return tenant
  }

  /** A page of tenants, oldest first (see `TenantCatalog.list`). */
  list(query?: TenantListQuery): Promise<TenantPage> {
    return this.catalog.list(query)
  }

  /**
   * Changes name, plan or settings; the plan and settings are checked against
   * the plans, once before anything is asked of the database and again under
   * the tenant's row lock (`TenantCatalog.update`'s `check`), so two concurrent
   * updates (one the plan, one the settings) cannot leave settings the new
   * plan refuses: the later one is checked against what the first wrote.
   */
  async update(ref: string, given: TenantPatchInput, options: Attribution = {}): Promise<TenantRecord> {
    // Parsed first, as create: the plans check what the catalog stores.
    const patch = parseTenantPatch(given)
    const plans = this.#plans
    const tenant = await this.get(ref)
    if (plans === undefined) return this.catalog.update(tenant.id, patch, attributionOf(options))
    // A new plan is checked against the settings the tenant will have under it: the patch's, or those it keeps.
    const check = (current: TenantRecord): void => {
      const settings = patch.settings ?? (patch.plan !== undefined && patch.plan !== current.plan ? current.settings : undefined)
      plans.assertValid({ plan: patch.plan, settings }, current.plan)
    }
    check(tenant)
    return this.catalog.update(tenant.id, patch, attributionOf(options), check)
  }

  /** Stops serving the tenant (TENANT_SUSPENDED) until `resume`. */
  async suspend(ref: string, options: Attribution = {}): Promise<TenantRecord> {
    return this.catalog.suspend((await this.get(ref)).id, attributionOf(options))
  }

  async resume(ref: string, options: Attribution = {}): Promise<TenantRecord> {
    return this.catalog.resume((await this.get(ref)).id, attributionOf(options))
  }

  /**
   * Offboards the tenant: it stops serving at once (`offboarding`), its model
   * removes its data (a shared tenant is fenced first, so no late write
   * survives; a schema or database is dropped), its migration ledger is
   * forgotten, then it is `deleted`: its slug and domains are free again and its
   * keys no longer work. An offboarding interrupted half way is finished by
   * calling this again.
   */
  async offboard(ref: string, options: Attribution = {}): Promise<TenantRecord> {
    const attribution = attributionOf(options)
    let tenant = await this.get(ref)
    if (tenant.status !== 'offboarding') tenant = await this.catalog.beginOffboarding(tenant.id, attribution)
    await this.#data.modelOf(tenant).deprovision(tenant)
    await this.#migrator?.forget(tenant)
    return this.catalog.markDeleted(tenant.id, attribution)
  }

  /** A new API key for the tenant; the key is in this answer only. */
  async createApiKey(ref: string, options: { readonly name?: string } & Attribution = {}): Promise<CreatedApiKey> {
    return this.catalog.createApiKey((await this.get(ref)).id, options)
  }

  /** The tenant's API keys (never their secrets), revoked ones included. */
  async listApiKeys(ref: string): Promise<ApiKeyInfo[]> {
    return this.catalog.listApiKeys((await this.get(ref)).id)
  }

  /** Revokes one of the tenant's keys; NOT_FOUND for an unknown id or another tenant's key. */
  async revokeApiKey(ref: string, keyId: string, options: Attribution = {}): Promise<ApiKeyInfo> {
    const tenant = await this.get(ref)
    const keys = isUuid(keyId) ? await this.catalog.listApiKeys(tenant.id) : []
    if (!keys.some((k) => k.id === keyId)) throw new TenantryError('NOT_FOUND', `Tenant "${tenant.slug}" has no API key "${keyId}"`)
    return this.catalog.revokeApiKey(keyId, attributionOf(options))
  }

  /** Adds a custom domain; CONFLICT when another tenant has it. */
  async addDomain(ref: string, domain: string, options: Attribution = {}): Promise<TenantRecord> {
    return this.catalog.addDomain((await this.get(ref)).id, domain, attributionOf(options))
  }

  /** Removes one of the tenant's domains; NOT_FOUND for a domain it does not have. */
  async removeDomain(ref: string, domain: string, options: Attribution = {}): Promise<TenantRecord> {
    const tenant = await this.get(ref)
    const wanted = typeof domain === 'string' ? domain.toLowerCase() : ''
    if (!tenant.domains.includes(wanted)) throw new TenantryError('NOT_FOUND', `Tenant "${tenant.slug}" has no domain "${domain}"`)
    return this.catalog.removeDomain(wanted, attributionOf(options))
  }
}

function attributionOf(options: Attribution): Attribution {
  return {
    ...(options.actor === undefined ? {} : { actor: options.actor }),
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  }
}
