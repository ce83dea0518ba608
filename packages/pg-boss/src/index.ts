export { TenantBoss, type RefusedJobOutput, type TenantBossHandler, type TenantBossOptions, type TenantWorkOptions } from './tenant-boss.ts'
export type { FairnessOptions, TenantJobCounts, TenantJobStats } from '@tenantry/core'
