import { TenantryError } from '@tenantry/core'
import { tenantPoolOf, type TenantPool, type TenantPoolSource } from '@tenantry/postgres'
import type { DrizzleConfig } from 'drizzle-orm'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'

/** A Drizzle database over Tenantry's scoped pool (see tenantryDrizzle). */
export type TenantryDrizzle<TSchema extends Record<string, unknown> = Record<string, never>> = NodePgDatabase<TSchema> & { $client: TenantPool }

/**
 * A Drizzle database (node-postgres driver) over Tenantry's scoped pool: every
 * statement runs for the tenant in context, wherever it is placed (a shared
 * tenant as the runtime role under row-level security, a schema tenant in its
 * schema, a database tenant in its own database), and outside a scope nothing
 * runs (TENANT_CONTEXT_MISSING). `db.transaction()` checks out a client of the
 * scope and runs BEGIN … COMMIT on it (isolationLevel, accessMode and
 * deferrable work; nested transactions are savepoints). `config` is Drizzle's
 * own (`schema`, `casing`, `logger`); the client is the pool, and Drizzle's
 * query `cache` is refused (VALIDATION_FAILED): it keys results by SQL text and
 * parameters, which are the same for every tenant.
 *
 * Drizzle's errors wrap the driver's: a refusal is a DrizzleQueryError whose
 * `cause` is the TenantryError (or the PostgreSQL error, e.g. SQLSTATE 42501
 * for a row naming another tenant).
 *
 * @example
 * import { createTenantry, runWithTenant } from 'tenantry'
 * import { tenantryDrizzle } from '@tenantry/drizzle'
 * import * as schema from './schema.ts'
 *
 * const tenantry = await createTenantry(config)
 * export const db = tenantryDrizzle(tenantry, { schema })
 *
 * const rows = await runWithTenant(acme, () => db.select().from(schema.projects))   // acme's projects
 * await runWithTenant(acme, () => db.transaction(async (tx) => {
 *   await tx.insert(schema.projects).values({ name: 'Apollo' })                       // tenant_id: acme
 * }, { isolationLevel: 'serializable' }))
 */
export function tenantryDrizzle<TSchema extends Record<string, unknown> = Record<string, never>>(
  source: TenantPoolSource,
  config: DrizzleConfig<TSchema> = {},
): TenantryDrizzle<TSchema> {
  const pool = tenantPoolOf(source, 'tenantryDrizzle')
  if (config !== null && typeof config === 'object' && ('client' in config || 'connection' in config)) {
    throw new TenantryError('VALIDATION_FAILED', 'tenantryDrizzle takes Drizzle\'s config without client or connection: the client is Tenantry\'s scoped pool')
  }
  if (config?.cache !== undefined) {
    // Drizzle keys cached results by SQL text and parameters, and a tenant is in neither here.
    throw new TenantryError(
      'VALIDATION_FAILED',
      'tenantryDrizzle refuses Drizzle\'s query cache: it keys results by SQL and parameters, which are the same for every tenant, so one tenant would be served another\'s rows. Cache per tenant yourself, or, with a cache whose keys include the tenant, build drizzle({ client: tenantry.pool, cache }) directly',
    )
  }
  return drizzle<TSchema, TenantPool>({ ...config, client: pool })
}
