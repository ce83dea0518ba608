/** Catalog changes, and what each one makes a cache forget. */

/** What changed in the catalog; the names follow the audit log's actions. */
export type TenantChangeKind =
  | 'tenant.created'
  | 'tenant.updated'
  | 'tenant.status_changed'
  | 'tenant.deleted'
  | 'tenant.placement_changed'
  | 'domain.added'
  | 'domain.removed'
  | 'api_key.revoked'

export const tenantChangeKinds: readonly TenantChangeKind[] = [
  'tenant.created', 'tenant.updated', 'tenant.status_changed', 'tenant.deleted',
  'tenant.placement_changed', 'domain.added', 'domain.removed', 'api_key.revoked',
]

/**
 * One committed catalog change, as `TenantCatalog.onChange` reports it and as
 * `redisTenantInvalidation` carries it between instances.
 *
 * @example
 * const change: TenantChange = { kind: 'tenant.status_changed', tenantId: acme.id, slug: 'acme' }
 */
export interface TenantChange {
  readonly kind: TenantChangeKind
  readonly tenantId: string
  readonly slug?: string
  /** Domains concerned: the added or removed one, or the tenant's domains. */
  readonly domains?: readonly string[]
  /** The revoked key (`api_key.revoked`). */
  readonly keyId?: string
}

/** The caches a change is applied to; any of them may be absent. */
export interface TenantChangeTargets {
  readonly directory?: {
    invalidateTenant(id: string): void
    invalidateSlug(slug: string): void
    invalidateDomain(domain: string): void
  }
  readonly apiKeys?: {
    invalidateKey(keyId: string): void
    invalidateTenant(tenantId: string): void
  }
}

/**
 * Makes the caches forget what `change` made stale. This is the in-process path
 * (one instance, no Redis); `redisTenantInvalidation` calls it on every instance.
 *
 * @example
 * const off = catalog.onChange((change) => applyTenantChange(change, { directory, apiKeys }))
 */
export function applyTenantChange(change: TenantChange, targets: TenantChangeTargets): void {
  const { directory, apiKeys } = targets
  if (directory !== undefined) {
    directory.invalidateTenant(change.tenantId)
    if (change.slug !== undefined) directory.invalidateSlug(change.slug)
    for (const domain of change.domains ?? []) directory.invalidateDomain(domain)
  }
  if (apiKeys !== undefined) {
    if (change.kind === 'api_key.revoked' && change.keyId !== undefined) apiKeys.invalidateKey(change.keyId)
    if (change.kind === 'tenant.deleted') apiKeys.invalidateTenant(change.tenantId)
  }
}

/**
 * True when `value` has the shape of a TenantChange (for messages read off the wire).
 *
 * @example
 * const change = JSON.parse(message); if (isTenantChange(change)) applyTenantChange(change, targets)
 */
export function isTenantChange(value: unknown): value is TenantChange {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (
    tenantChangeKinds.includes(v.kind as TenantChangeKind) &&
    typeof v.tenantId === 'string' &&
    (v.slug === undefined || typeof v.slug === 'string') &&
    (v.keyId === undefined || typeof v.keyId === 'string') &&
    (v.domains === undefined || (Array.isArray(v.domains) && v.domains.every((d) => typeof d === 'string')))
  )
}
