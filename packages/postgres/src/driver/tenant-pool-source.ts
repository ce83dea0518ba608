import { TenantryError } from '@tenantry/core'
import { TenantPool } from './scoped-pool.ts'

/**
 * Where an ORM integration takes Tenantry's scoped pool from: what
 * `createTenantry` returns (`tenantry.pool`), a `TenantData` (`data.pool()`),
 * or a `TenantPool` itself.
 *
 * @example
 * const fromTenantry: TenantPoolSource = tenantry
 * const fromData: TenantPoolSource = new TenantData({ shared, schema: schemas })
 */
export type TenantPoolSource = TenantPool | { readonly pool: TenantPool } | { pool(): TenantPool }

/**
 * The TenantPool a source holds. `user` names the caller in the error: a
 * plain `pg.Pool` (or anything else) is VALIDATION_FAILED, since it runs SQL
 * outside every tenant scope.
 *
 * @example
 * const pool = tenantPoolOf(tenantry, 'myIntegration')   // tenantry.pool
 */
export function tenantPoolOf(source: TenantPoolSource, user: string): TenantPool {
  if (source instanceof TenantPool) return source
  const held = (source as { pool?: unknown } | null | undefined)?.pool
  const pool = typeof held === 'function' ? (held as () => unknown).call(source) : held
  if (pool instanceof TenantPool) return pool
  throw new TenantryError(
    'VALIDATION_FAILED',
    `${user} needs what createTenantry returns, a TenantData, or a TenantPool (tenantry.pool); a plain pg.Pool runs SQL outside every tenant scope`,
  )
}
