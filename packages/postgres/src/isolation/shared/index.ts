export { SharedSchemaIsolation, type PurgeOptions } from './shared-schema.ts'
export { resolveSharedSchemaOptions, type ResolvedSharedSchemaOptions, type SharedSchemaOptions, type SharedWalls } from './options.ts'
export { TENANT_POLICY, rlsPolicyStatements, sharedSchemaInstallStatements, tenantPolicyExpressions } from './rls.ts'
export { pinnedSearchPath, sharedSchemaBinding, tenantTransactionSettings } from './binding.ts'
