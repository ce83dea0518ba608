export {
  FENCED_TENANT_SQLSTATE, GUARD_SCHEMA, INVALID_SCOPE_SQLSTATE, SCOPE_SETTING, SCOPE_TENANT_FUNCTION, WRITABLE_TENANT_FUNCTION,
  guardInstallStatements,
} from './guard-sql.ts'
export { MIN_ROTATION_GRACE_SECONDS, addScopeKey, ensureScopeKey, rotateScopeKey, signScopeToken, type ScopeKey } from './scope-keys.ts'
export { ScopeSigner, type ScopeSignerOptions } from './scope-signer.ts'
export { ScopeGuard } from './scope-guard.ts'
export { RuntimeAccess, ensureRole, ensureRuntimeLoginsTable, installLoginPassword, readStoredPassword, withLogin, type RuntimeLogin } from './runtime-login.ts'
