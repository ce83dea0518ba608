export { FairShare, MAX_PRIORITY, type FairShareOptions, type FairShareRedis } from './fair-share.ts'
export { TenantQueue, tenantProcessor, type TenantJobHandler, type TenantProcessorOptions, type TenantQueueOptions } from './tenant-queue.ts'
