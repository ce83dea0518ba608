export { TenantBoss, type RefusedJobOutput, type TenantBossHandler, type TenantWorkOptions } from './tenant-boss.ts'
