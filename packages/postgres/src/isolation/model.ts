import type { IsolationModelName, ScopedTenant, Tenant, TenantPlacement } from '@tenantry/core'
import type { Kysely } from 'kysely'
import type { ConnectionRoute } from '../driver/route.ts'
import type { DriverStats } from '../driver/tenant-driver.ts'
import type { DoctorReport } from '../doctor/report.ts'
import type { MigrationTarget } from '../migrations/targets.ts'
import type { ModelQueryRules, ScopedKyselyOptions } from './scoped-kysely.ts'

/** Where a tenant of a model is provisioned (the database model: on which server). */
export interface ProvisionOptions {
  readonly server?: string
}

/** What doctor may be told of the fleet (the database model checks the databases of the tenants given). */
export interface DoctorOptions {
  readonly tenants?: readonly ScopedTenant[]
}

/**
 * One isolation model, as the rest of Tenantry sees it: the shared schema,
 * schema per tenant and database per tenant each implement it, so the
 * lifecycle, the migrator and `TenantData` never branch on which one a tenant
 * is in.
 *
 * @example
 * const model: IsolationModel = new SchemaPerTenantIsolation(target)
 * await model.install()
 * const placement = await model.provision(tenant)
 */
export interface IsolationModel {
  readonly model: IsolationModelName
  /** Round trips, statements and transactions its Kysely instances sent. */
  readonly stats: DriverStats
  /** What the tenant plugin does with this model's tenants' queries. */
  queryRules(): ModelQueryRules
  /** Where a scope of this model's tenants runs, and with which transaction settings. */
  route(): ConnectionRoute
  /** Creates what the model needs once (runtime role, scope guard, …). Idempotent. */
  install(): Promise<void>
  /** Makes a new tenant's place (a schema, a database; nothing for the shared tables); returns its placement. */
  provision(tenant: ScopedTenant, options?: ProvisionOptions): Promise<TenantPlacement>
  /** Removes the tenant's data: its rows (fenced first), its schema, its database. Idempotent. */
  deprovision(tenant: ScopedTenant): Promise<void>
  /** Where the tenant's own migrations run; undefined when its tables are shared (the shared tables are one target). */
  migrationTarget(tenant: Tenant): MigrationTarget | undefined
  doctor(options?: DoctorOptions): Promise<DoctorReport>
  assertSafe(options?: DoctorOptions): Promise<DoctorReport>
  /** A Kysely instance for this model's tenants only. */
  kysely<DB>(options?: ScopedKyselyOptions): Kysely<DB>
  /** Closes the pools the model opened (not the target's). */
  close(): Promise<void>
}
