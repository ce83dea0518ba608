export { MIN_ROTATION_GRACE_SECONDS, rotateScopeKey, type ScopeKey } from './scope-keys.ts'
export { ScopeSigner, type ScopeSignerOptions } from './scope-signer.ts'
export type { RuntimeLogin } from './runtime-login.ts'
