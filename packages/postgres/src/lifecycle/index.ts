export { TenantLifecycle, type CreateOptions, type TenantLifecycleOptions } from './tenant-lifecycle.ts'
