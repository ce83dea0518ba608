/**
 * @tenantry/postgres/testing: a conformance kit that proves, against your own
 * schema and database, that one tenant cannot read, count, join, change or write
 * another tenant's rows through a Tenantry-scoped Kysely instance, or through
 * any other SQL client (a `SqlRunner`: Drizzle, Prisma, node-postgres over
 * `tenantry.pool`).
 */
import { runConformanceChecks, type TenantIsolationCheckOptions } from './check-isolation.ts'
import { assertReportPassed, type ConformanceReport } from './report.ts'

export type { TenantIsolationCheckOptions, TenantIsolationCheckSettings } from './check-isolation.ts'
export { kyselyOverRunner, type SqlRunner, type SqlRunnerResult, type SqlTransactionSettings } from './sql-runner.ts'
export type { CatalogClient, CatalogSource } from './catalog-source.ts'
export type { ConformanceCheck, ConformanceReport } from './report.ts'
export { formatConformanceFailures } from './report.ts'
export type { SampleRowContext, SampleRowFactory } from './sample-rows.ts'

/**
 * Runs the isolation checks and returns every result. Two tenants are used (two
 * synthetic ones unless given, placed by `provision` when given): A writes rows in
 * each table (parents first, foreign keys pointing at its own parent rows), then B
 * tries to reach them by key, by filter, through count(*) and GROUP BY, by A's
 * schema-qualified name, along every foreign key (inner, left, right and full
 * joins, EXISTS and scalar subqueries, with rows that reference the other
 * tenant's parents), by UPDATE and DELETE, and by inserting a row that names A
 * (shared model) or that must land in B's own schema or database (placed
 * tenants). A must then see exactly its own rows, unchanged. The rows are removed
 * at the end, and the tenants `provision` placed are handed to `deprovision`.
 *
 * Works for every isolation model and for `TenantData`, with A and B in the same
 * model or in different ones; through a Tenantry-scoped Kysely instance (`db`)
 * or through any SQL client (`runner`, a `SqlRunner`).
 *
 * @example
 * const shared = new SharedSchemaIsolation(target, { tables: ['projects', 'tasks'] })
 * const report = await checkTenantIsolation({ db: shared.kysely(), pool: target.pool, tables: ['projects', 'tasks'] })
 * for (const check of report.failures) console.error(check.name, check.table, check.detail)
 *
 * @example
 * // the same checks through Drizzle over tenantry.pool, for tenants of every model
 * import { drizzleRunner, tenantryDrizzle } from '@tenantry/drizzle'
 * await checkTenantIsolation({ runner: drizzleRunner(tenantryDrizzle(tenantry)), pool: target.pool, tables, tenants: [acme, initech] })
 *
 * @example
 * const databases = new DatabasePerTenantIsolation({ router, provisioner })
 * await checkTenantIsolation({
 *   db: databases.kysely(),
 *   tables: ['projects', 'tasks'],
 *   provision: async (tenant) => ({ ...tenant, isolation: 'database', placement: await databases.provision(tenant, createTables) }),
 *   deprovision: (tenant) => databases.deprovision(tenant),
 * })
 */
export function checkTenantIsolation(options: TenantIsolationCheckOptions): Promise<ConformanceReport> {
  return runConformanceChecks(options)
}

/**
 * Runs the isolation checks and throws ISOLATION_MISCONFIGURED, its message a
 * readable list of the failed checks, unless every check passed. Meant for a test
 * suite or a deploy gate.
 *
 * @example
 * it('keeps tenants apart', async () => {
 *   await assertTenantIsolation({ db: shared.kysely(), pool: target.pool, tables: ['projects', 'tasks'] })
 * })
 */
export async function assertTenantIsolation(options: TenantIsolationCheckOptions): Promise<ConformanceReport> {
  return assertReportPassed(await runConformanceChecks(options))
}
