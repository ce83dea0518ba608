import { sql } from 'drizzle-orm'
import { uuid } from 'drizzle-orm/pg-core'

/**
 * The tenant column of a shared-model table, for a Drizzle schema:
 * `uuid not null`, which inserts may leave out. Drizzle then writes `default`
 * for it, and the database fills in the current tenant: Tenantry's `install()`
 * gives every shared tenant table `tenant_id default tenantry_guard.tenant()`
 * (the tenant of the transaction's signed scope). An insert naming another
 * tenant is refused by the row-level security policy (SQLSTATE 42501), and
 * outside a tenant scope the default is NULL, which `not null` refuses.
 *
 * The default is not part of the column's DDL (drizzle-kit generates
 * `"tenant_id" uuid NOT NULL`): `tenantry_guard.tenant()` exists only once
 * Tenantry has installed its guard, which comes after the tables on a new
 * database. Tenantry's `install()` sets it, and doctor checks it
 * (`column.default`). Give the table an index (or primary key) leading with
 * this column.
 *
 * @example
 * import { index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core'
 * import { tenantId } from '@tenantry/drizzle'
 *
 * export const projects = pgTable('projects', {
 *   tenantId: tenantId(),
 *   id: integer('id').generatedAlwaysAsIdentity(),
 *   name: text('name').notNull(),
 * }, (t) => [primaryKey({ columns: [t.tenantId, t.id] })])
 *
 * await runWithTenant(acme, () => db.insert(projects).values({ name: 'Apollo' }))
 * // insert into "projects" ("tenant_id", "id", "name") values (default, default, $1): acme's row
 */
export function tenantId(name = 'tenant_id') {
  return uuid(name).notNull().$defaultFn(() => sql`default`)
}
