/**
 * @tenantry/postgres: the catalog, the isolation models, RLS, doctor and the
 * pipelined tenant driver, on PostgreSQL and on embedded PGlite. Most apps need
 * only `createTenantry` from `tenantry`; the building blocks the models are made
 * of are in `@tenantry/postgres/internal` (no semver promise).
 */
export { postgresTarget, type PostgresBackend, type PostgresTarget, type TargetOptions } from './driver/target.ts'
export type { ConnectionRoute, RoutedConnection } from './driver/route.ts'
export type { DriverStats } from './driver/tenant-driver.ts'
export { TenantPool, TenantPoolClient, type TenantPoolOptions } from './driver/scoped-pool.ts'
export { tenantPoolOf, type TenantPoolSource } from './driver/tenant-pool-source.ts'
export * from './isolation/shared/index.ts'
export * from './isolation/schema/index.ts'
export type { ModelQueryRules, ScopedKyselyOptions } from './isolation/scoped-kysely.ts'
export * from './doctor/index.ts'
export * from './catalog/index.ts'
export * from './pool-router/index.ts'
export * from './isolation/database/index.ts'
export { TenantData, type TenantDataModels, type TenantDataOptions } from './isolation/tenant-data.ts'
export * from './migrations/index.ts'
export * from './walls/index.ts'
export * from './lifecycle/index.ts'
export type { DoctorOptions, IsolationModel, ProvisionOptions } from './isolation/model.ts'
export * from './tasks/index.ts'
