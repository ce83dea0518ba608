/**
 * Tenant resolution: resolvers that read a tenant identifier from a request, the
 * resolution that looks it up and checks it, cached lookups, API-key and JWT
 * authentication and cache invalidation on catalog changes. See docs/resolution.md.
 */
export {
  hostName,
  type TenantIdentifier,
  type TenantRequest,
  type TenantResolver,
} from './request.ts'
export {
  customDomainResolver,
  portResolver,
  subdomainResolver,
  type CustomDomainResolverOptions,
  type PortResolverOptions,
  type SubdomainResolverOptions,
} from './host-resolvers.ts'
export { headerResolver, pathResolver, type HeaderResolverOptions, type PathResolverOptions } from './request-resolvers.ts'
export { jwtResolver, jwtTenancy, type JwtAuthentication, type JwtResolverOptions, type JwtTenancy } from './jwt-resolver.ts'
export {
  TenantResolution,
  type ResolverAnswer,
  type TenantDirectory,
  type TenantResolutionOptions,
} from './resolution.ts'
export { CachedTenantDirectory, type CachedTenantDirectoryOptions, type TenantCacheStats } from './cached-directory.ts'
export {
  CachedApiKeyVerifier,
  apiKeyAuthenticator,
  apiKeyTenancy,
  type ApiKeyAuthentication,
  type ApiKeyTenancy,
  type ApiKeyAuthenticatorOptions,
  type ApiKeyOwner,
  type ApiKeyVerifier,
  type CachedApiKeyVerifierOptions,
} from './api-keys.ts'
export {
  applyTenantChange,
  isTenantChange,
  tenantChangeKinds,
  type TenantChange,
  type TenantChangeKind,
  type TenantChangeTargets,
} from './changes.ts'
export { createTenantGate, type GateRoute, type TenantGate, type TenantHttpOptions, type TenantPass } from './http-gate.ts'
