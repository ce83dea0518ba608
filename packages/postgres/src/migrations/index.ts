export { defineMigration, migrationSet, checksumOf, digestOf, type Migration, type MigrationContext, type MigrationDefinition, type MigrationModel, type MigrationSetName, type MigrationStep } from './migration.ts'
export { loadMigrations, parseSqlMigration } from './loader.ts'
export {
  FleetMigrator, type DownOptions, type FleetMigratorOptions, type MigrateOptions, type MigrationEvent, type MigrationRunSummary,
  type MigrationScope, type MigrationStatus, type MigrationStatusRow, type TenantMigrationState, type TenantMigrationStatus,
} from './fleet-migrator.ts'
export type { TargetOutcome } from './apply.ts'
export type { ControlPooler } from './session.ts'
export type { MigrationTarget } from './targets.ts'
