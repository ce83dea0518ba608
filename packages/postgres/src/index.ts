/**
 * @tenantry/postgres: the catalog, the isolation models, RLS, doctor and the
 * pipelined tenant driver, on PostgreSQL and on embedded PGlite.
 */
export { postgresTarget, type PostgresBackend, type PostgresTarget, type TargetOptions } from './driver/target.ts'
export { runPipeline, type PipelineStatement, type StatementResult } from './driver/pipelined-query.ts'
export { databaseRoute, type ConnectionRoute, type RoutedConnection } from './driver/route.ts'
export { TenantDialect } from './driver/tenant-dialect.ts'
export { SESSION_RESET_SQL, TenantDriver, withScopedClient, type DriverStats, type ScopedClient, type TenantDriverOptions } from './driver/tenant-driver.ts'
export { setConfigSql, type ScopeBinding, type ScopeSetting } from './driver/scope-binding.ts'
export * from './isolation/shared/index.ts'
export * from './isolation/schema/index.ts'
export { scopedKysely, newDriverStats, type ModelQueryRules, type ScopedKyselyOptions } from './isolation/scoped-kysely.ts'
export * from './doctor/index.ts'
export * from './catalog/index.ts'
export * from './pool-router/index.ts'
export * from './isolation/database/index.ts'
export { TenantData, type TenantDataModels } from './isolation/tenant-data.ts'
export * from './migrations/index.ts'
export * from './walls/index.ts'
export * from './lifecycle/index.ts'
export type { DoctorOptions, IsolationModel, ProvisionOptions } from './isolation/model.ts'
