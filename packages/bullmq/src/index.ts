export { TenantQueue, tenantProcessor, type TenantJobHandler, type TenantProcessorOptions } from './tenant-queue.ts'
