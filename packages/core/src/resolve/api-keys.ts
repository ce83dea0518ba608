/** API-key authentication for tenant routes, framework-neutral, with a cache keyed by the key's hash. */
import { createHash } from 'node:crypto'
import { TenantryError } from '../errors/index.ts'
import type { Tenant } from '../tenant/model.ts'
import { positiveInteger } from './cache-options.ts'
import { LookupCache } from './lookup-cache.ts'
import { headerValues, type TenantRequest, type TenantResolver } from './request.ts'

/** Whose key a presented key is. */
export interface ApiKeyOwner {
  readonly keyId: string
  readonly tenantId: string
}

/**
 * Checks an API key. `TenantCatalog` fits (hashed at rest, constant-time compare);
 * wrap it in `CachedApiKeyVerifier` for production.
 */
export interface ApiKeyVerifier {
  verifyApiKey(key: string): Promise<ApiKeyOwner | undefined>
}

export interface CachedApiKeyVerifierOptions {
  /** How long a valid key is trusted without asking the source; default 10 000 ms. Revocation invalidates sooner. */
  readonly ttlMs?: number
  /** How long an unknown key stays unknown; default 2 000 ms. */
  readonly negativeTtlMs?: number
  /** Most valid keys kept; default 10 000. */
  readonly max?: number
  /** Most unknown keys kept, apart from valid ones so a spray of bad keys cannot evict them; default 1 000. */
  readonly negativeMax?: number
}

function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url')
}

/**
 * An `ApiKeyVerifier` that caches another one. Entries are keyed by the SHA-256
 * of the presented key, never the key itself, so a heap dump shows no usable
 * key. Valid and unknown keys live in separate LRUs (a flood of random keys
 * cannot push valid ones out); concurrent checks of one key make one query.
 *
 * @example
 * const keys = new CachedApiKeyVerifier(catalog, { ttlMs: 10_000 })
 * const authenticate = apiKeyAuthenticator(keys)
 * // on revocation: keys.invalidateKey(keyId)
 */
export class CachedApiKeyVerifier implements ApiKeyVerifier {
  readonly #source: ApiKeyVerifier
  readonly #cache: LookupCache<ApiKeyOwner>

  constructor(source: ApiKeyVerifier, options: CachedApiKeyVerifierOptions = {}) {
    if (typeof source?.verifyApiKey !== 'function') {
      throw new TenantryError('VALIDATION_FAILED', 'CachedApiKeyVerifier needs a source with verifyApiKey(key) (a TenantCatalog fits)', {
        details: [{ path: 'source', message: 'must implement ApiKeyVerifier' }],
      })
    }
    this.#source = source
    this.#cache = new LookupCache<ApiKeyOwner>({
      max: positiveInteger(options.max, 'CachedApiKeyVerifier: max', 10_000),
      ttlMs: positiveInteger(options.ttlMs, 'CachedApiKeyVerifier: ttlMs', 10_000),
      negativeMax: positiveInteger(options.negativeMax, 'CachedApiKeyVerifier: negativeMax', 1_000),
      negativeTtlMs: positiveInteger(options.negativeTtlMs, 'CachedApiKeyVerifier: negativeTtlMs', 2_000),
    })
  }

  /** Whose key this is (undefined for an unknown or revoked key), from memory when cached. */
  verifyApiKey(key: string): Promise<ApiKeyOwner | undefined> {
    return this.#cache.get(keyHash(key), async () => {
      const owner = await this.#source.verifyApiKey(key)
      // Only what it needs: never the source's whole record.
      return owner === undefined ? undefined : { keyId: owner.keyId, tenantId: owner.tenantId }
    })
  }

  /** Forgets a key (call it when the key is revoked). */
  invalidateKey(keyId: string): void {
    this.#cache.deleteWhere((owner) => owner.keyId === keyId)
  }

  /** Forgets every key of a tenant (call it when the tenant is deleted). */
  invalidateTenant(tenantId: string): void {
    this.#cache.deleteWhere((owner) => owner.tenantId === tenantId)
  }

  /** Forgets everything. */
  clear(): void {
    this.#cache.clear()
  }

  /** Hit and miss counters and the number of cached keys. */
  stats(): { readonly hits: number; readonly misses: number; readonly size: number } {
    const stats = this.#cache.stats()
    return { hits: stats.hits + stats.negativeHits, misses: stats.misses, size: stats.size }
  }
}

export interface ApiKeyAuthenticatorOptions {
  /** Read the key from this header instead of `Authorization: Bearer <key>` (e.g. `x-api-key`). */
  readonly header?: string
}

/** What `apiKeyAuthenticator` returns for an accepted key. */
export interface ApiKeyAuthentication {
  readonly keyId: string
}

const BEARER = /^Bearer\s+(\S+)\s*$/i
const challenge = { 'WWW-Authenticate': 'Bearer realm="tenantry"' }

function presentedKey(request: TenantRequest, header: string | undefined): string | undefined {
  if (header !== undefined) {
    const value = headerValues(request, header)[0]?.trim()
    return value === undefined || value.length === 0 ? undefined : value
  }
  for (const value of headerValues(request, 'authorization')) {
    const match = BEARER.exec(value)
    if (match) return match[1]
  }
  return undefined
}

/**
 * Checks the request's API key against the resolved tenant:
 * no key or an unknown/revoked key is UNAUTHENTICATED (401), another tenant's
 * key is TENANT_MISMATCH (403).
 *
 * @example
 * await app.register(tenantryFastify, { resolution, authenticate: apiKeyAuthenticator(new CachedApiKeyVerifier(catalog)) })
 */
export function apiKeyAuthenticator(
  verifier: ApiKeyVerifier,
  options: ApiKeyAuthenticatorOptions = {},
): (request: TenantRequest, tenant: Tenant) => Promise<ApiKeyAuthentication> {
  if (typeof verifier?.verifyApiKey !== 'function') {
    throw new TenantryError('VALIDATION_FAILED', 'apiKeyAuthenticator needs a verifier with verifyApiKey(key) (a TenantCatalog or CachedApiKeyVerifier)', {
      details: [{ path: 'verifier', message: 'must implement ApiKeyVerifier' }],
    })
  }
  const header = options.header?.toLowerCase()
  return async function authenticateApiKey(request, tenant) {
    const key = presentedKey(request, header)
    if (key === undefined) {
      throw new TenantryError('UNAUTHENTICATED', header ? `Send the tenant's API key in the ${header} header` : "Send the tenant's API key as Authorization: Bearer <key>", {
        headers: challenge,
      })
    }
    const owner = await verifier.verifyApiKey(key)
    if (owner === undefined) throw new TenantryError('UNAUTHENTICATED', 'Unknown or revoked API key', { headers: challenge })
    if (owner.tenantId !== tenant.id) {
      throw new TenantryError('TENANT_MISMATCH', `This API key belongs to another tenant than "${tenant.slug}"`)
    }
    return { keyId: owner.keyId }
  }
}

/** An API-key resolver and the `authenticate` that goes with it. */
export interface ApiKeyTenancy {
  /** Identifies the tenant from the presented key alone: put it in `TenantResolution`'s resolvers. */
  readonly resolver: TenantResolver
  /** Accepts the request only with a valid key of the resolved tenant (see `apiKeyAuthenticator`). */
  readonly authenticate: (request: TenantRequest, tenant: Tenant) => Promise<ApiKeyAuthentication>
}

/**
 * Tenancy by API key alone, for APIs whose callers are machines: the key names
 * its tenant, so no subdomain or header is needed. The resolver answers with the
 * key's tenant; a request without a key is left to the other resolvers
 * (`undefined`), and a key that is unknown or revoked is UNAUTHENTICATED at once
 * (a credential that does not verify never falls through to a host's tenant).
 * `authenticate` then checks the key against the resolved tenant, so a host or
 * header naming another tenant than the key's is TENANT_MISMATCH. The key is
 * verified once per request (the resolver's answer is reused).
 *
 * @example
 * const keys = apiKeyTenancy(new CachedApiKeyVerifier(catalog))
 * const resolution = new TenantResolution({ resolvers: [keys.resolver], directory })
 * await app.register(tenantryFastify, { resolution, authenticate: keys.authenticate })
 */
export function apiKeyTenancy(verifier: ApiKeyVerifier, options: ApiKeyAuthenticatorOptions = {}): ApiKeyTenancy {
  const authenticateKey = apiKeyAuthenticator(verifier, options)
  const header = options.header?.toLowerCase()
  const verified = new WeakMap<TenantRequest, { readonly key: string; readonly owner: ApiKeyOwner }>()
  // The resolver and authenticate see the same request object; the key is read again to be sure it is the same one.
  return {
    resolver: {
      name: 'api-key',
      async identify(request) {
        const key = presentedKey(request, header)
        if (key === undefined) return undefined
        const owner = await verifier.verifyApiKey(key)
        if (owner === undefined) throw new TenantryError('UNAUTHENTICATED', 'Unknown or revoked API key', { headers: challenge })
        verified.set(request, { key, owner })
        return { by: 'id', id: owner.tenantId }
      },
    },
    async authenticate(request, tenant) {
      const known = verified.get(request)
      const key = presentedKey(request, header)
      if (known === undefined || key !== known.key) return authenticateKey(request, tenant)
      if (known.owner.tenantId !== tenant.id) throw new TenantryError('TENANT_MISMATCH', `This API key belongs to another tenant than "${tenant.slug}"`)
      return { keyId: known.owner.keyId }
    },
  }
}
