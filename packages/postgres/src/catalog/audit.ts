import { assertUuid, currentScope, TenantryError } from '@tenantry/core'
import { assertOptions, parseAuditDetails, optionalInteger, optionalText, type Attribution } from './arguments.ts'
import { toAuditRecord, type AuditRecord, type AuditRow } from './rows.ts'
import type { Queryable } from './transaction.ts'

/**
 * What the catalog itself writes to the audit log. Other writers may use their own actions.
 *
 * @example
 * const action: CatalogAuditAction = 'tenant.status_changed'
 * const changes = await catalog.listAudit({ tenantId: id, action })
 */
export type CatalogAuditAction =
  | 'tenant.created'
  | 'tenant.updated'
  | 'tenant.status_changed'
  | 'tenant.placement_changed'
  | 'domain.added'
  | 'domain.removed'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'system_scope'

/**
 * A row to write to the audit log.
 *
 * @example
 * const entry: AuditEntry = { action: 'billing.plan_changed', tenantId: id, actor: 'stripe-webhook' }
 * await catalog.audit(entry)
 */
export interface AuditEntry {
  /** A short lowercase name such as `tenant.suspended` or `billing.invoice_sent`. */
  readonly action: string
  readonly actor?: string
  readonly tenantId?: string
  readonly reason?: string
  /** Any JSON (at most 65,536 characters of it). Never put secrets here. */
  readonly details?: unknown
}

/**
 * Filters for reading the audit log, newest first.
 *
 * @example
 * const query: AuditQuery = { action: 'system_scope', limit: 50 }
 */
export interface AuditQuery {
  readonly tenantId?: string
  readonly action?: string
  /** 1-1000, default 100. */
  readonly limit?: number
}

const ACTION = /^[a-z][a-z0-9_.:-]{0,99}$/

/** Validates an audit entry before anything is written. */
export function parseAuditEntry(input: unknown): AuditEntry {
  const entry = assertOptions(input, 'entry', ['action', 'actor', 'tenantId', 'reason', 'details'])
  if (typeof entry.action !== 'string' || !ACTION.test(entry.action)) {
    throw new TenantryError('VALIDATION_FAILED', 'entry.action must be a short lowercase name such as "tenant.suspended" (letters, digits, ".", "_", ":", "-")', {
      details: [{ path: 'entry.action', message: 'must be a short lowercase name' }],
    })
  }
  optionalText(entry.actor, 'entry.actor', 200)
  optionalText(entry.reason, 'entry.reason', 1000)
  if (entry.tenantId !== undefined) assertUuid(entry.tenantId, 'entry.tenantId')
  // The details as they will be written: what was checked (a getter or toJSON below the top runs once).
  const details = parseAuditDetails(entry.details, 'entry.details')
  return { ...entry, ...(details === undefined ? {} : { details }) } as unknown as AuditEntry
}

/**
 * Fills in who and why for a catalog change: what the caller said, else the
 * system scope the call runs in (`runAsSystem(reason, fn, { actor })`), else the
 * catalog's default actor.
 */
export function attribute(given: Attribution, defaultActor: string | undefined): { actor: string | undefined; reason: string | undefined } {
  const scope = currentScope()
  const system = scope?.kind === 'system' ? scope : undefined
  return { actor: given.actor ?? system?.actor ?? defaultActor, reason: given.reason ?? system?.reason }
}

/** Inserts one audit row through `q` (a transaction's client, so it commits with the change). */
export async function writeAudit(q: Queryable, entry: AuditEntry, at?: Date): Promise<AuditRecord> {
  const result = await q.query<AuditRow>(
    `insert into tenantry.audit_log (at, actor, action, tenant_id, reason, details)
     values (coalesce($1::timestamptz, now()), $2, $3, $4, $5, $6::jsonb)
     returning id, at, actor, action, tenant_id, reason, details`,
    [
      at ?? null,
      entry.actor ?? null,
      entry.action,
      entry.tenantId ?? null,
      entry.reason ?? null,
      entry.details === undefined ? null : JSON.stringify(entry.details),
    ],
  )
  const row = result.rows[0]
  if (row === undefined) throw new TenantryError('INTERNAL', 'The audit row was not written')
  return toAuditRecord(row)
}

/** Reads the audit log, newest first. */
export async function readAudit(q: Queryable, input: unknown): Promise<AuditRecord[]> {
  const query = assertOptions(input, 'query', ['tenantId', 'action', 'limit'])
  if (query.tenantId !== undefined) assertUuid(query.tenantId, 'query.tenantId')
  if (query.action !== undefined && (typeof query.action !== 'string' || !ACTION.test(query.action))) {
    throw new TenantryError('VALIDATION_FAILED', 'query.action must be an audit action name such as "tenant.created"', {
      details: [{ path: 'query.action', message: 'must be an audit action name' }],
    })
  }
  const limit = optionalInteger(query.limit, 'query.limit', 1, 1000, 100)
  const result = await q.query<AuditRow>(
    `select id, at, actor, action, tenant_id, reason, details from tenantry.audit_log
     where ($1::uuid is null or tenant_id = $1::uuid) and ($2::text is null or action = $2::text)
     order by id desc limit $3`,
    [query.tenantId ?? null, query.action ?? null, limit],
  )
  return result.rows.map(toAuditRecord)
}
