/**
 * tenantry: the front door. `createTenantry(config)` sets everything up from
 * one config (the databases, the isolation models, migrations, doctor, the
 * tenants' lifecycle, resolution for the HTTP adapters, limits); the `tenantry`
 * CLI reads the same config from `tenantry.config.ts`. The everyday names of
 * the other packages are re-exported, so most apps import from here alone.
 *
 * @example
 * import { createTenantry, runWithTenant } from 'tenantry'
 * const tenantry = await createTenantry({ database: { embedded: './.tenantry' }, models: { shared: { tables: ['projects'] } } })
 */
export * from './setup/index.ts'
export { defineConfig, loadConfig, type TenantryConfigExport } from './config.ts'
export { createProgram, runCli } from './program.ts'
export { formatStatus } from './commands/migrate.ts'
export { progressView, type ProgressOptions, type ProgressView } from './progress.ts'
export type { CliIo } from './io.ts'
export {
  PlanRegistry, TenantryError, currentTenant, isTenantryError, runAsSystem, runWithTenant, tryCurrentTenant,
  type PlanDefinition, type Tenant, type TenantryErrorCode,
} from '@tenantry/core'
export { defineMigration, type Migration, type MigrationContext, type MigrationDefinition, type TenantPool, type TenantRecord } from '@tenantry/postgres'
