import type pg from 'pg'
import { TenantryError, type SystemScopeListener, type TenantChange, type TenantChangeKind, type TenantPlacement, type TenantStatus } from '@tenantry/core'
import { createApiKey, listApiKeys, revokeApiKey, verifyApiKey, type CreatedApiKey, type VerifiedApiKey } from './api-keys.ts'
import type { Attribution } from './arguments.ts'
import type { CreateApiKeyOptions, CreateTenantOptions, TenantCatalogOptions } from './catalog-options.ts'
import { CatalogChangeEmitter, type CatalogChangeListener } from './changes.ts'
import { parseAuditEntry, readAudit, writeAudit, type AuditEntry, type AuditQuery } from './audit.ts'
import { addDomain, listDomains, removeDomain } from './domains.ts'
import type { ApiKeyInfo, AuditRecord, TenantRecord } from './rows.ts'
import { installCatalogSchema, type CatalogInstallResult } from './schema.ts'
import { tenantNotFound } from './tenant-queries.ts'
import {
  createTenant,
  getTenantByDomain,
  getTenantById,
  getTenantBySlug,
  listTenants,
  patchTenant,
  placeTenant,
  transitionTenant,
  type TransitionedTenant,
  type TenantListQuery,
  type TenantPage,
} from './tenants.ts'

/**
 * The tenant catalog (control plane) on PostgreSQL or PGlite: tenants, their
 * lifecycle, custom domains, API keys and the audit log, in schema `tenantry`.
 *
 * Every method checks its arguments before touching the database (VALIDATION_FAILED,
 * nothing written); every change writes its audit row in the same transaction.
 * Deleted tenants are "not found" everywhere except `getById(id, { includeDeleted: true })`.
 *
 * @example
 * const catalog = new TenantCatalog({ target: postgresTarget(process.env.DATABASE_URL!) })
 * await catalog.install()
 * const acme = await catalog.create({ slug: 'acme', name: 'Acme', isolation: 'shared' })
 * const { key } = await catalog.createApiKey(acme.id, { name: 'CI' })
 */
export class TenantCatalog {
  readonly #pool: pg.Pool
  readonly #defaultActor: string | undefined
  readonly #changes = new CatalogChangeEmitter()

  constructor(options: TenantCatalogOptions) {
    const pool = typeof options === 'object' && options !== null ? ('target' in options ? options.target?.pool : options.pool) : undefined
    if (typeof pool?.query !== 'function' || typeof pool.connect !== 'function') {
      throw new TenantryError('VALIDATION_FAILED', 'TenantCatalog needs { target } (postgresTarget/pgliteTarget) or { pool } (a pg.Pool)', {
        details: [{ path: 'options', message: 'must have a target or a pool' }],
      })
    }
    const actor = options.defaultActor
    if (actor !== undefined && (typeof actor !== 'string' || actor.length === 0 || actor.length > 200)) {
      throw new TenantryError('VALIDATION_FAILED', 'options.defaultActor must be a non-empty string of at most 200 characters', {
        details: [{ path: 'options.defaultActor', message: 'must be a non-empty string' }],
      })
    }
    this.#pool = pool
    this.#defaultActor = actor
  }

  /**
   * Creates or upgrades the `tenantry` schema; idempotent and safe to run concurrently.
   *
   * @example
   * await catalog.install()
   */
  install(): Promise<CatalogInstallResult> {
    return installCatalogSchema(this.#pool)
  }

  /**
   * Registers a listener called after every committed change that can make a
   * cached lookup stale: create, update, status changes (suspend, resume,
   * transition, markDeleted, ...), placement, addDomain/removeDomain and
   * revokeApiKey. The write's promise resolves after the listeners settled; a
   * failing listener becomes a process warning. Returns a function that removes it.
   *
   * @example
   * const off = catalog.onChange((change) => applyTenantChange(change, { directory, apiKeys }))
   */
  onChange(listener: CatalogChangeListener): () => void {
    return this.#changes.add(listener)
  }

  async #changed(kind: TenantChangeKind, write: Promise<TenantRecord>, extra: Partial<TenantChange> = {}): Promise<TenantRecord> {
    const tenant = await write
    await this.#changes.emit({ kind, tenantId: tenant.id, slug: tenant.slug, domains: tenant.domains, ...extra })
    return tenant
  }

  /** A status change's event names the domains a deletion released, so every cache forgets them. */
  async #transitioned(kind: TenantChangeKind, write: Promise<TransitionedTenant>): Promise<TenantRecord> {
    const { tenant, releasedDomains } = await write
    await this.#changes.emit({ kind, tenantId: tenant.id, slug: tenant.slug, domains: [...tenant.domains, ...releasedDomains] })
    return tenant
  }

  /**
   * Creates a tenant and its domains in one transaction. Input is checked with
   * `parseNewTenant`; a taken slug or domain is CONFLICT. Starts `active` unless
   * `{ activate: false }`.
   *
   * @example
   * const t = await catalog.create({ slug: 'globex', name: 'Globex', isolation: 'schema', domains: ['app.globex.com'] })
   */
  create(input: unknown, options?: CreateTenantOptions): Promise<TenantRecord> {
    return this.#changed('tenant.created', createTenant(this.#pool, input, options, this.#defaultActor))
  }

  /**
   * The tenant with this id, or undefined; a non-UUID is VALIDATION_FAILED.
   * Deleted tenants only with `{ includeDeleted: true }`.
   *
   * @example
   * const t = await catalog.getById('7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10')
   */
  getById(id: string, options?: { readonly includeDeleted?: boolean }): Promise<TenantRecord | undefined> {
    return getTenantById(this.#pool, id, options)
  }

  /**
   * The live tenant with this slug, or undefined. A malformed or reserved slug
   * (which can name no tenant) is VALIDATION_FAILED.
   *
   * @example
   * const t = await catalog.getBySlug('acme')
   */
  getBySlug(slug: string): Promise<TenantRecord | undefined> {
    return getTenantBySlug(this.#pool, slug)
  }

  /**
   * The live tenant that owns this custom domain, or undefined. The name must be
   * lowercase without a port (VALIDATION_FAILED otherwise): normalise a Host header first.
   *
   * @example
   * const t = await catalog.getByDomain('app.acme.com')
   */
  getByDomain(domain: string): Promise<TenantRecord | undefined> {
    return getTenantByDomain(this.#pool, domain)
  }

  /**
   * Like `getById`, but TENANT_NOT_FOUND when absent or deleted.
   *
   * @example
   * const t = await catalog.requireById(id)
   */
  async requireById(id: string): Promise<TenantRecord> {
    const tenant = await this.getById(id)
    if (tenant === undefined) throw tenantNotFound(`id ${id}`)
    return tenant
  }

  /**
   * Like `getBySlug`, but TENANT_NOT_FOUND when absent.
   *
   * @example
   * const t = await catalog.requireBySlug('acme')
   */
  async requireBySlug(slug: string): Promise<TenantRecord> {
    const tenant = await this.getBySlug(slug)
    if (tenant === undefined) throw tenantNotFound(`slug "${slug}"`)
    return tenant
  }

  /**
   * Like `getByDomain`, but TENANT_NOT_FOUND when absent.
   *
   * @example
   * const t = await catalog.requireByDomain('app.acme.com')
   */
  async requireByDomain(domain: string): Promise<TenantRecord> {
    const tenant = await this.getByDomain(domain)
    if (tenant === undefined) throw tenantNotFound(`domain "${domain}"`)
    return tenant
  }

  /**
   * A page of tenants, oldest first (keyset on created_at, id). Without `status`,
   * every tenant not deleted; `{ status: 'deleted' }` lists the deleted ones.
   *
   * @example
   * let page = await catalog.list({ limit: 100 })
   * while (page.nextCursor) page = await catalog.list({ limit: 100, cursor: page.nextCursor })
   */
  list(query?: TenantListQuery): Promise<TenantPage> {
    return listTenants(this.#pool, query)
  }

  /**
   * Changes name, plan or settings (checked with `parseTenantPatch`). `settings`
   * REPLACES the stored object whole; it is not merged. An empty patch changes nothing.
   *
   * `check(current)`, when given, runs under the tenant's row lock with the
   * tenant as stored at that moment, before the write: a throw refuses the
   * change and nothing is written (no audit entry). Concurrent updates of one
   * tenant wait for each other there, so a rule that spans fields (the
   * settings a plan allows) holds against what the other update wrote.
   * `TenantLifecycle.update` checks the plans this way. The check must be
   * synchronous: it runs holding a connection and the row lock, so it may not
   * wait for anything (one that returned a promise is refused with
   * VALIDATION_FAILED). An empty patch writes nothing, but is still checked.
   *
   * @example
   * await catalog.update(id, { plan: 'pro', settings: { seats: 25 } })
   * await catalog.update(id, { settings: { seats: 40 } }, {}, (current) => plans.assertValid({ settings: { seats: 40 } }, current.plan))
   */
  update(id: string, patch: unknown, options?: Attribution, check?: (current: TenantRecord) => void): Promise<TenantRecord> {
    return this.#changed('tenant.updated', patchTenant(this.#pool, id, patch, options, this.#defaultActor, check))
  }

  /**
   * Moves a tenant along the lifecycle (`provisioning -> active <-> suspended ->
   * offboarding -> deleted`); anything else is CONFLICT. Concurrent transitions of
   * one tenant are serialised by a row lock. Moving to `deleted` is `markDeleted`.
   *
   * @example
   * await catalog.transition(id, 'suspended', { actor: 'billing', reason: 'unpaid invoice' })
   */
  transition(id: string, to: TenantStatus, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned(to === 'deleted' ? 'tenant.deleted' : 'tenant.status_changed', transitionTenant(this.#pool, id, to, options, this.#defaultActor))
  }

  /**
   * provisioning -> active (only from provisioning; CONFLICT otherwise).
   *
   * @example
   * const t = await catalog.create({ slug: 'initech', name: 'Initech' }, { activate: false })
   * await catalog.activate(t.id)
   */
  activate(id: string, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned('tenant.status_changed', transitionTenant(this.#pool, id, 'active', options, this.#defaultActor, { status: 'provisioning', step: 'activate' }))
  }

  /**
   * active -> suspended: the tenant stops serving traffic.
   *
   * @example
   * await catalog.suspend(id, { reason: 'abuse report #42' })
   */
  suspend(id: string, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned('tenant.status_changed', transitionTenant(this.#pool, id, 'suspended', options, this.#defaultActor))
  }

  /**
   * suspended -> active (only from suspended; CONFLICT otherwise).
   *
   * @example
   * await catalog.resume(id)
   */
  resume(id: string, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned('tenant.status_changed', transitionTenant(this.#pool, id, 'active', options, this.#defaultActor, { status: 'suspended', step: 'resume' }))
  }

  /**
   * provisioning, active or suspended -> offboarding: the step before purging data.
   *
   * @example
   * await catalog.beginOffboarding(id)
   */
  beginOffboarding(id: string, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned('tenant.status_changed', transitionTenant(this.#pool, id, 'offboarding', options, this.#defaultActor))
  }

  /**
   * offboarding -> deleted. Sets `deletedAt`, frees the slug, releases the domains
   * and revokes the API keys; the row stays for the audit trail.
   *
   * @example
   * await catalog.beginOffboarding(id)
   * // ...purge the tenant's data...
   * await catalog.markDeleted(id)
   */
  markDeleted(id: string, options?: Attribution): Promise<TenantRecord> {
    return this.#transitioned('tenant.deleted', transitionTenant(this.#pool, id, 'deleted', options, this.#defaultActor))
  }

  /**
   * Replaces where the tenant's data lives (server, schema, database).
   *
   * @example
   * await catalog.setPlacement(id, { schema: 'tenant_globex' })
   */
  setPlacement(id: string, placement: TenantPlacement, options?: Attribution): Promise<TenantRecord> {
    return this.#changed('tenant.placement_changed', placeTenant(this.#pool, id, placement, options, this.#defaultActor))
  }

  /**
   * Registers a custom domain (lowercase DNS name) for a tenant. CONFLICT when
   * another tenant has it; adding a domain the tenant already has changes nothing.
   *
   * @example
   * await catalog.addDomain(id, 'tasks.acme.com')
   */
  addDomain(id: string, domain: string, options?: Attribution): Promise<TenantRecord> {
    return this.#changed('domain.added', addDomain(this.#pool, id, domain, options, this.#defaultActor), { domains: [domain] })
  }

  /**
   * Unregisters a custom domain; NOT_FOUND when no tenant has it. Returns its former owner.
   *
   * @example
   * await catalog.removeDomain('tasks.acme.com')
   */
  removeDomain(domain: string, options?: Attribution): Promise<TenantRecord> {
    return this.#changed('domain.removed', removeDomain(this.#pool, domain, options, this.#defaultActor), { domains: [domain] })
  }

  /**
   * The tenant's custom domains, sorted; TENANT_NOT_FOUND for an unknown or deleted tenant.
   *
   * @example
   * const domains = await catalog.listDomains(id) // ['tasks.acme.com']
   */
  listDomains(id: string): Promise<readonly string[]> {
    return listDomains(this.#pool, id)
  }

  /**
   * Creates an API key for a live tenant. The key (`tnt_<prefix>_<secret>`) is in
   * the answer only; the catalog keeps its prefix and SHA-256.
   *
   * @example
   * const { id, key } = await catalog.createApiKey(tenant.id, { name: 'CI' })
   */
  createApiKey(tenantId: string, options?: CreateApiKeyOptions): Promise<CreatedApiKey> {
    return createApiKey(this.#pool, tenantId, options, this.#defaultActor)
  }

  /**
   * Whose key this is, or undefined for a malformed (no query made), unknown,
   * wrong, revoked or deleted tenant's key. The hash comparison is constant-time.
   * It does not check the tenant's status: a suspended tenant's key still verifies.
   *
   * @example
   * const who = await catalog.verifyApiKey(bearer)
   * if (who === undefined || who.tenantId !== tenant.id) throw new TenantryError('UNAUTHENTICATED', 'Unknown API key')
   */
  verifyApiKey(key: string): Promise<VerifiedApiKey | undefined> {
    return verifyApiKey(this.#pool, key)
  }

  /**
   * Revokes a key for good (revoking twice changes nothing); NOT_FOUND for an unknown id.
   *
   * @example
   * await catalog.revokeApiKey(keyId, { reason: 'leaked in a log' })
   */
  async revokeApiKey(keyId: string, options?: Attribution): Promise<ApiKeyInfo> {
    const info = await revokeApiKey(this.#pool, keyId, options, this.#defaultActor)
    await this.#changes.emit({ kind: 'api_key.revoked', tenantId: info.tenantId, keyId: info.id })
    return info
  }

  /**
   * A live tenant's keys, revoked ones included, oldest first. Never hashes or keys.
   *
   * @example
   * const keys = await catalog.listApiKeys(tenant.id)
   */
  listApiKeys(tenantId: string): Promise<ApiKeyInfo[]> {
    return listApiKeys(this.#pool, tenantId)
  }

  /**
   * Writes one row to the audit log, exactly as given (no actor or reason is filled in).
   *
   * @example
   * await catalog.audit({ action: 'billing.invoice_sent', tenantId: id, actor: 'billing-job', details: { invoice: 'INV-7' } })
   */
  async audit(entry: AuditEntry): Promise<AuditRecord> {
    return writeAudit(this.#pool, parseAuditEntry(entry))
  }

  /**
   * A sink for core's `onSystemScope` that writes a `system_scope` row per
   * `runAsSystem`. If the write fails, the system-scope work does not run.
   *
   * @example
   * const off = onSystemScope(catalog.auditListener())
   * await runAsSystem('nightly report', () => report(), { actor: 'cron' })
   * off()
   */
  auditListener(): SystemScopeListener {
    const pool = this.#pool
    return async function recordSystemScopeInCatalog(event) {
      await writeAudit(
        pool,
        {
          action: 'system_scope',
          actor: event.actor,
          tenantId: event.enteredFrom?.id,
          reason: event.reason,
          details: event.enteredFrom === undefined ? undefined : { enteredFrom: event.enteredFrom },
        },
        event.at,
      )
    }
  }

  /**
   * The audit log, newest first, optionally for one tenant or action.
   *
   * @example
   * const trail = await catalog.listAudit({ tenantId: id, limit: 20 })
   */
  listAudit(query?: AuditQuery): Promise<AuditRecord[]> {
    return readAudit(this.#pool, query)
  }
}
