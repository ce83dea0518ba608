/**
 * What doctor.test.ts and doctor-hardening.test.ts build alike on top of
 * test-kit's doctorFixture: the findings of a report by severity or check, a
 * tenant, and models installed over tables a test creates by hand (a
 * partitioned tenant table, tables with foreign keys), or a schema model with
 * tenants provisioned in it. Every model is closed when the fixture ends.
 */
import { randomUUID } from 'node:crypto'
import type { IsolationModelName, ScopedTenant, TenantPlacement } from '@tenantry/core'
import { SchemaPerTenantIsolation, SharedSchemaIsolation, type DoctorFinding, type DoctorReport, type SharedSchemaOptions } from '@tenantry/postgres'
import type { DoctorFixture } from '@tenantry/test-kit'
import type pg from 'pg'

/** The checks the report fails (its errors). */
export const errorsOf = (report: DoctorReport): string[] => report.findings.filter((f) => f.severity === 'error').map((f) => f.check)
/** The checks the report warns of. */
export const warningsOf = (report: DoctorReport): string[] => report.findings.filter((f) => f.severity === 'warning').map((f) => f.check)
/** The findings of one check. */
export const findingsOf = (report: DoctorReport, check: string): DoctorFinding[] => report.findings.filter((f) => f.check === check)

/** A new active tenant placed in `isolation`. */
export const tenant = (slug: string, isolation: IsolationModelName): ScopedTenant => ({ id: randomUUID(), slug, status: 'active', isolation })

/** The table a tenant's schema or database is provisioned with. */
export const projectsTable = 'create table projects (id int generated always as identity primary key, name text not null)'

/**
 * Runs `ddl` (the tables, made by hand), then installs a shared model over
 * `tables` with the fixture's runtime role.
 */
export async function sharedOver(fixture: DoctorFixture, tables: string[], ddl: string, options: Partial<SharedSchemaOptions> = {}): Promise<SharedSchemaIsolation> {
  await fixture.database.pool.query(ddl)
  const shared = new SharedSchemaIsolation(fixture.database, { tables, runtimeRole: fixture.role, ...options })
  fixture.opened.push(shared)
  await shared.install()
  return shared
}

/**
 * The tenant table `table` (id, tenant_id, body) partitioned by hash of
 * tenant_id into `<table>_p0` and `<table>_p1`, under a shared model, installed.
 */
export function partitionedShared(fixture: DoctorFixture, table: string): Promise<SharedSchemaIsolation> {
  return sharedOver(fixture, [table], `create table ${table} (id int generated always as identity, tenant_id uuid not null, body text, primary key (tenant_id, id)) partition by hash (tenant_id);
    create table ${table}_p0 partition of ${table} for values with (modulus 2, remainder 0);
    create table ${table}_p1 partition of ${table} for values with (modulus 2, remainder 1);
    create index on ${table} (tenant_id)`)
}

/** The schema model with the fixture's runtime role, installed. */
export async function installedSchemas(fixture: DoctorFixture): Promise<SchemaPerTenantIsolation> {
  const schemas = new SchemaPerTenantIsolation(fixture.database, { runtimeRole: fixture.role })
  fixture.opened.push(schemas)
  await schemas.install()
  return schemas
}

/** `made`, provisioned by `model` with `sql` run in its schema or database, with the placement that gave it. */
export async function provisioned(
  model: { provision(tenant: ScopedTenant, setup: (client: pg.ClientBase) => Promise<void>): Promise<TenantPlacement> },
  made: ScopedTenant,
  sql: string,
): Promise<ScopedTenant> {
  return { ...made, placement: await model.provision(made, async (c) => { await c.query(sql) }) }
}
