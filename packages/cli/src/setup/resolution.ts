import {
  CachedApiKeyVerifier, CachedTenantDirectory, TenantResolution, apiKeyAuthenticator, apiKeyTenancy, customDomainResolver,
  headerResolver, pathResolver, subdomainResolver, type TenantHttpOptions, type TenantRequest, type TenantResolver,
} from '@tenantry/core'
import type { TenantCatalog, TenantRecord } from '@tenantry/postgres'
import type { ResolutionConfig, TenantryConfig } from './config.ts'

/** The caches behind resolution, and what the HTTP adapters take. */
export interface Access {
  readonly directory: CachedTenantDirectory<TenantRecord>
  readonly apiKeys: CachedApiKeyVerifier
  readonly resolution: TenantResolution<TenantRecord>
  readonly authenticate: ((request: TenantRequest, tenant: TenantRecord) => Promise<unknown>) | undefined
}

function defaultResolvers(config: ResolutionConfig): TenantResolver[] {
  const resolvers: TenantResolver[] = []
  const baseDomains = config.baseDomains ?? []
  if (baseDomains.length > 0) {
    resolvers.push(subdomainResolver({ baseDomains: [...baseDomains] }), customDomainResolver({ excludeBaseDomains: [...baseDomains] }))
  }
  if (config.header !== false) resolvers.push(headerResolver({ header: config.header ?? 'x-tenant-id' }))
  if (config.pathPrefix !== undefined) resolvers.push(pathResolver({ prefix: config.pathPrefix }))
  return resolvers
}

/**
 * Tenant resolution as the config asks: a cached directory and API-key
 * verifier over the catalog, the resolvers, and the caller's authentication.
 */
export function buildAccess(config: TenantryConfig, catalog: TenantCatalog): Access {
  const directory = new CachedTenantDirectory<TenantRecord>(catalog, { ttlMs: config.cache?.tenantTtlMs ?? 30_000 })
  const apiKeys = new CachedApiKeyVerifier(catalog, { ttlMs: config.cache?.apiKeyTtlMs ?? 10_000 })
  const options = config.resolution ?? {}
  const resolvers = [...(options.resolvers ?? defaultResolvers(options))]
  const mode = options.authenticate ?? 'api-key'
  let authenticate: Access['authenticate']
  if (typeof mode === 'function') authenticate = mode
  else if (mode === 'api-key') authenticate = apiKeyAuthenticator(apiKeys)
  else if (mode === 'api-key-names-tenant') {
    const keys = apiKeyTenancy(apiKeys)
    resolvers.push(keys.resolver)
    authenticate = keys.authenticate
  }
  const resolution = new TenantResolution<TenantRecord>({ resolvers, directory })
  return { directory, apiKeys, resolution, authenticate }
}

/** What `app.register(tenantryFastify, …)`, `tenantryExpress(…)` and `tenantryHono(…)` take. */
export function httpOptions(access: Access, admission: TenantHttpOptions<TenantRecord>['admission']): TenantHttpOptions<TenantRecord> {
  return {
    resolution: access.resolution,
    ...(access.authenticate === undefined ? {} : { authenticate: access.authenticate }),
    ...(admission === undefined ? {} : { admission }),
  }
}
