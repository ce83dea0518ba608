/**
 * The catalog's records as callers see them (camelCase, `undefined` for absent)
 * and how database rows become them.
 */
import type { IsolationModelName, Tenant, TenantPlacement, TenantStatus } from '@tenantry/core'

/**
 * A tenant with its custom domains, as the catalog returns it. It fits wherever a
 * core `Tenant` or `ScopedTenant` is expected.
 *
 * @example
 * const acme: TenantRecord = await catalog.requireBySlug('acme')
 * await runWithTenant(acme, () => work())
 */
export interface TenantRecord extends Tenant {
  /** Custom domains that resolve to this tenant, sorted. */
  readonly domains: readonly string[]
  /** When the tenant was marked deleted; undefined for live tenants. */
  readonly deletedAt: Date | undefined
}

/**
 * An API key's public facts. The key itself is never stored, its hash never returned.
 *
 * @example
 * const active = (await catalog.listApiKeys(id)).filter((k: ApiKeyInfo) => k.revokedAt === undefined)
 */
export interface ApiKeyInfo {
  readonly id: string
  readonly tenantId: string
  readonly name: string | undefined
  /** The 8 characters after `tnt_`; safe to show so a user can tell keys apart. */
  readonly prefix: string
  readonly createdAt: Date
  readonly lastUsedAt: Date | undefined
  readonly revokedAt: Date | undefined
}

/**
 * One row of the audit log.
 *
 * @example
 * const [latest]: AuditRecord[] = await catalog.listAudit({ tenantId: id, limit: 1 })
 */
export interface AuditRecord {
  /** A bigint, as a string. */
  readonly id: string
  readonly at: Date
  readonly actor: string | undefined
  readonly action: string
  readonly tenantId: string | undefined
  readonly reason: string | undefined
  readonly details: unknown
}

/** Columns selected for a TenantRecord from `tenantry.tenants` aliased `t`. */
export const tenantColumns = `t.id, t.slug, t.name, t.status, t.plan, t.isolation, t.placement, t.settings,
  t.created_at, t.updated_at, t.deleted_at,
  coalesce((select array_agg(d.domain order by d.domain) from tenantry.domains d where d.tenant_id = t.id), '{}') as domains`

export interface TenantRow {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly status: TenantStatus
  readonly plan: string
  readonly isolation: IsolationModelName
  readonly placement: TenantPlacement
  readonly settings: Record<string, unknown>
  readonly created_at: Date
  readonly updated_at: Date
  readonly deleted_at: Date | null
  readonly domains: string[]
}

export function toTenantRecord(row: TenantRow): TenantRecord {
  return Object.freeze({
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    plan: row.plan,
    isolation: row.isolation,
    placement: Object.freeze({ ...row.placement }),
    settings: row.settings,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    domains: Object.freeze([...row.domains]),
    deletedAt: row.deleted_at ?? undefined,
  })
}

export const apiKeyColumns = 'id, tenant_id, name, prefix, created_at, last_used_at, revoked_at'

export interface ApiKeyRow {
  readonly id: string
  readonly tenant_id: string
  readonly name: string | null
  readonly prefix: string
  readonly created_at: Date
  readonly last_used_at: Date | null
  readonly revoked_at: Date | null
}

export function toApiKeyInfo(row: ApiKeyRow): ApiKeyInfo {
  return Object.freeze({
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name ?? undefined,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  })
}

export interface AuditRow {
  readonly id: string
  readonly at: Date
  readonly actor: string | null
  readonly action: string
  readonly tenant_id: string | null
  readonly reason: string | null
  readonly details: unknown
}

export function toAuditRecord(row: AuditRow): AuditRecord {
  return Object.freeze({
    id: row.id,
    at: row.at,
    actor: row.actor ?? undefined,
    action: row.action,
    tenantId: row.tenant_id ?? undefined,
    reason: row.reason ?? undefined,
    details: row.details ?? undefined,
  })
}
