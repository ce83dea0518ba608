/**
 * @tenantry/kysely: the tenant filter of the shared isolation model, as a Kysely
 * plugin that rewrites every query for the tenant in context.
 */
export { TenantScopePlugin, type TenantQueryRules, type TenantScopePluginOptions } from './plugin.ts'
export { SYSTEM_STAMP, StampingQueryCompiler, compiledStampOf, tenantStampOf, type QueryStamp } from './stamps.ts'
export { trusted } from './trusted.ts'
