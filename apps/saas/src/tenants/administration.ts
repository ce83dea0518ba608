import { TenantryError, runWithTenant, type IsolationModelName } from '@tenantry/core'
import type { CreatedApiKey, TenantCatalog, TenantRecord } from '@tenantry/postgres'
import type { TenantPlacements } from './provision.ts'

/** What the admin API may ask for when it creates a tenant. */
export interface NewTenant {
  readonly slug: string
  readonly name: string
  readonly plan?: string | undefined
  readonly isolation?: IsolationModelName | undefined
  readonly domains?: readonly string[] | undefined
}

/** What the admin API may change on a tenant. */
export interface TenantPatch {
  readonly name?: string | undefined
  readonly plan?: string | undefined
  readonly settings?: Record<string, unknown> | undefined
}

/**
 * Called after every change to a tenant (created, updated, suspended, resumed,
 * offboarding, deleted) so lookup caches drop what they hold for it at once.
 */
export type TenantChangeListener = (tenant: TenantRecord, kind: 'created' | 'updated' | 'suspended' | 'resumed' | 'offboarding' | 'deleted') => void

function notFound(slug: string): TenantryError {
  return new TenantryError('TENANT_NOT_FOUND', `No tenant "${slug}"`)
}

/**
 * The control-plane operations behind the admin API: the tenant lifecycle with
 * the data it owns (a tenant is created with its placement and tables, and a
 * deleted tenant's rows, schema or database are purged before it is marked deleted).
 *
 * @example
 * const admin = new TenantAdministration({ catalog, placements })
 * const t = await admin.create({ slug: 'umbrella', name: 'Umbrella', isolation: 'schema' })
 * const { key } = await admin.createApiKey('umbrella', 'CI')
 */
export class TenantAdministration {
  readonly #catalog: TenantCatalog
  readonly #placements: TenantPlacements
  readonly #listeners: TenantChangeListener[] = []

  constructor(options: { catalog: TenantCatalog; placements: TenantPlacements }) {
    this.#catalog = options.catalog
    this.#placements = options.placements
  }

  /** Registers a listener for tenant changes; returns a function that removes it. */
  onChange(listener: TenantChangeListener): () => void {
    this.#listeners.push(listener)
    return () => {
      const at = this.#listeners.indexOf(listener)
      if (at >= 0) this.#listeners.splice(at, 1)
    }
  }

  /** Every tenant that is not deleted, oldest first. */
  async list(): Promise<TenantRecord[]> {
    const tenants: TenantRecord[] = []
    let cursor: string | undefined
    do {
      const page = await this.#catalog.list(cursor === undefined ? { limit: 500 } : { limit: 500, cursor })
      tenants.push(...page.items)
      cursor = page.nextCursor
    } while (cursor !== undefined)
    return tenants
  }

  /** The live tenant with this slug, or TENANT_NOT_FOUND (a malformed slug is VALIDATION_FAILED). */
  async get(slug: string): Promise<TenantRecord> {
    const tenant = await this.#catalog.getBySlug(slug)
    if (tenant === undefined) throw notFound(slug)
    return tenant
  }

  /**
   * Creates the tenant in `provisioning`, makes its placement and tables, then
   * activates it. If the placement cannot be made, the tenant is deleted again
   * (its slug freed) and the error rethrown.
   */
  async create(input: NewTenant): Promise<TenantRecord> {
    const created = await this.#catalog.create(
      {
        slug: input.slug,
        name: input.name,
        isolation: input.isolation ?? 'shared',
        ...(input.plan === undefined ? {} : { plan: input.plan }),
        ...(input.domains === undefined ? {} : { domains: input.domains }),
      },
      { activate: false },
    )
    try {
      const placement = await this.#placements.provision(created)
      if (created.isolation !== 'shared') await this.#catalog.setPlacement(created.id, placement)
      const active = await this.#catalog.activate(created.id)
      this.#emit(active, 'created')
      return active
    } catch (error) {
      await this.#abandon(created).catch(() => undefined)
      throw error
    }
  }

  async update(slug: string, patch: TenantPatch): Promise<TenantRecord> {
    const tenant = await this.get(slug)
    const updated = await this.#catalog.update(tenant.id, patch)
    this.#emit(updated, 'updated')
    return updated
  }

  async suspend(slug: string): Promise<TenantRecord> {
    const tenant = await this.get(slug)
    const suspended = await this.#catalog.suspend(tenant.id)
    this.#emit(suspended, 'suspended')
    return suspended
  }

  async resume(slug: string): Promise<TenantRecord> {
    const tenant = await this.get(slug)
    const resumed = await this.#catalog.resume(tenant.id)
    this.#emit(resumed, 'resumed')
    return resumed
  }

  /**
   * Offboards the tenant (it stops serving at once), purges its data, then marks
   * it deleted: its slug and domains are free again and its keys revoked. A
   * deletion interrupted half way is finished by deleting again.
   */
  async delete(slug: string): Promise<TenantRecord> {
    let tenant = await this.get(slug)
    if (tenant.status !== 'offboarding') {
      tenant = await this.#catalog.beginOffboarding(tenant.id)
      this.#emit(tenant, 'offboarding')
    }
    await this.#placements.purge(tenant)
    const deleted = await this.#catalog.markDeleted(tenant.id)
    // The record after deletion has no domains left; caches must forget the old ones.
    this.#emit({ ...deleted, domains: tenant.domains }, 'deleted')
    return deleted
  }

  /** A new API key for the tenant; the key is in this answer only. */
  async createApiKey(slug: string, name?: string): Promise<CreatedApiKey> {
    const tenant = await this.get(slug)
    return this.#catalog.createApiKey(tenant.id, name === undefined ? {} : { name })
  }

  /** Runs `fn` as the tenant (for seeding demo data). */
  async asTenant<T>(slug: string, fn: () => Promise<T>): Promise<T> {
    return runWithTenant(await this.get(slug), fn)
  }

  async #abandon(tenant: TenantRecord): Promise<void> {
    const offboarding = await this.#catalog.beginOffboarding(tenant.id)
    await this.#placements.purge(offboarding).catch(() => undefined)
    const deleted = await this.#catalog.markDeleted(tenant.id)
    this.#emit({ ...deleted, domains: tenant.domains }, 'deleted')
  }

  #emit(tenant: TenantRecord, kind: Parameters<TenantChangeListener>[1]): void {
    for (const listener of this.#listeners) listener(tenant, kind)
  }
}
