export type { Scope, ScopedTenant, SystemScope, TenantScope } from './scope.ts'
export { onSystemScope, type SystemScopeEvent, type SystemScopeListener } from './audit.ts'
export {
  currentScope,
  currentTenant,
  isSystemScope,
  queryScope,
  runAsSystem,
  runWithTenant,
  tryCurrentTenant,
  type RunAsSystemOptions,
  type RunWithTenantOptions,
} from './tenant-context.ts'
