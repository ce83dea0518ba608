/**
 * @tenantry/postgres/internal: the building blocks the isolation models, the
 * catalog and the migrator are made of (the tenant driver, the scope guard's
 * SQL, the walls' statements, the runtime login, the doctor checks one by one,
 * the lock keys). Tenantry's own packages and tests use them; an application
 * uses `createTenantry` or the classes of `@tenantry/postgres`. Nothing here is
 * covered by semver: it may change in any release.
 *
 * @example
 * import { SESSION_RESET_SQL } from '@tenantry/postgres/internal'
 */
export { scopeKeyOf, type ScopeKey } from './driver/scope-key.ts'
export { runPipeline, type PipelineStatement, type StatementResult } from './driver/pipelined-query.ts'
export { endOfComment, endOfCommentOrQuoted, endOfQuoted, isSpace, parameterAt, statementStart } from './driver/sql-lexer.ts'
export { databaseRoute, type ConnectionRoute, type RoutedConnection } from './driver/route.ts'
export { TenantDialect } from './driver/tenant-dialect.ts'
export { SESSION_RESET_SQL, TenantDriver, withScopedClient, type ScopedClient, type TenantDriverOptions } from './driver/tenant-driver.ts'
export { setConfigSql, type ScopeBinding, type ScopeSetting } from './driver/scope-binding.ts'
export { scopedKysely, newDriverStats } from './isolation/scoped-kysely.ts'
export {
  FENCED_TENANT_SQLSTATE, GUARD_SCHEMA, INVALID_SCOPE_SQLSTATE, SCOPE_SETTING, SCOPE_TENANT_FUNCTION, WRITABLE_TENANT_FUNCTION,
  guardInstallStatements,
} from './walls/guard-sql.ts'
export { addScopeKey, ensureScopeKey, signScopeToken } from './walls/scope-keys.ts'
export { ScopeGuard } from './walls/scope-guard.ts'
export { RuntimeAccess, ensureRole, ensureRuntimeLoginsTable, installLoginPassword, readStoredPassword, withLogin } from './walls/runtime-login.ts'
export { doctorSharedSchema, type SharedDoctorSubject } from './doctor/shared-schema.ts'
export { doctorSchemaPerTenant, type SchemaDoctorSubject } from './doctor/schema-per-tenant.ts'
export { doctorDatabasePerTenant, type DatabaseDoctorSubject } from './doctor/database-per-tenant.ts'
export { installCatalogSchema, catalogSchemaVersion, catalogLockKey, type CatalogInstallResult } from './catalog/schema.ts'
export { acquireFleetLock, migrationLockKey, type FleetLock, type FleetLockOptions } from './migrations/fleet-lock.ts'
export { resolveSharedSchemaOptions, type ResolvedSharedSchemaOptions } from './isolation/shared/options.ts'
export { TENANT_POLICY, rlsPolicyStatements, sharedSchemaInstallStatements, tenantPolicyExpressions } from './isolation/shared/rls.ts'
export { pinnedSearchPath, sharedSchemaBinding, tenantTransactionSettings } from './isolation/shared/binding.ts'
export { SCHEMA_TENANT_POLICY, installSchemaWalls, schemaPolicyExpression } from './isolation/schema/schema-walls.ts'
export { installDatabaseWalls } from './isolation/database/database-per-tenant.ts'
export { databaseKeyOf } from './isolation/database/names.ts'
export { schemaOf } from './isolation/schema/names.ts'
