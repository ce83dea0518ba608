export { createTenantry, type ModelFinding, type Tenantry, type TenantryDoctorReport } from './create-tenantry.ts'
export {
  checkConfig,
  type DatabaseConfig, type DatabaseModelConfig, type LimitsConfig, type MigrationSource, type MigrationsConfig, type ModelsConfig,
  type ResolutionConfig, type SchemaModelConfig, type ServerConnection, type SharedModelConfig, type TenantryConfig,
} from './config.ts'
export type { BuiltModels } from './models.ts'
export type { Storage } from './storage.ts'
