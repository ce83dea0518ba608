export { SharedSchemaIsolation } from './shared-schema.ts'
export { resolveSharedSchemaOptions, type ResolvedSharedSchemaOptions, type SharedSchemaOptions, type SharedWalls } from './options.ts'
export { TENANT_POLICY, rlsPolicyStatements, sharedSchemaInstallStatements, tenantSettingExpression } from './rls.ts'
export { sharedSchemaBinding } from './binding.ts'
