/** Reads and locks of single tenant rows, shared by the catalog's write paths. */
import { TenantryError, type TenantStatus } from '@tenantry/core'
import { tenantColumns, toTenantRecord, type TenantRecord, type TenantRow } from './rows.ts'
import type { Queryable } from './transaction.ts'

/** The first tenant matching `where` (on `tenantry.tenants t`), with its domains. */
export async function selectTenant(q: Queryable, where: string, values: unknown[]): Promise<TenantRecord | undefined> {
  const result = await q.query<TenantRow>(`select ${tenantColumns} from tenantry.tenants t where ${where} limit 1`, values)
  const row = result.rows[0]
  return row === undefined ? undefined : toTenantRecord(row)
}

/** The live tenant `id`, or TENANT_NOT_FOUND. */
export async function requireLiveTenant(q: Queryable, id: string): Promise<TenantRecord> {
  const tenant = await selectTenant(q, 't.id = $1 and t.deleted_at is null', [id])
  if (tenant === undefined) throw tenantNotFound(`id ${id}`)
  return tenant
}

export function tenantNotFound(what: string): TenantryError {
  return new TenantryError('TENANT_NOT_FOUND', `No tenant with ${what} (deleted tenants are not found)`)
}

/**
 * Locks the live tenant row `id` for the rest of the transaction and returns its
 * slug and status. `update` serialises status changes and other writes to the
 * row; `share` only keeps the tenant from being deleted meanwhile.
 */
export async function lockLiveTenant(q: Queryable, id: string, mode: 'update' | 'share'): Promise<{ slug: string; status: TenantStatus }> {
  const result = await q.query<{ slug: string; status: TenantStatus }>(
    `select slug, status from tenantry.tenants where id = $1 and deleted_at is null for ${mode === 'update' ? 'update' : 'share'}`,
    [id],
  )
  const row = result.rows[0]
  if (row === undefined) throw tenantNotFound(`id ${id}`)
  return row
}

/** Runs an UPDATE of the tenant `t` (`set ...` with `values`, `$1` being the id) and returns the record. */
export async function updateTenant(q: Queryable, set: string, values: unknown[]): Promise<TenantRecord> {
  const result = await q.query<TenantRow>(
    `with t as (update tenantry.tenants set ${set}, updated_at = now() where id = $1 returning *)
     select ${tenantColumns} from t`,
    values,
  )
  const row = result.rows[0]
  if (row === undefined) throw tenantNotFound(`id ${String(values[0])}`)
  return toTenantRecord(row)
}
