/**
 * Reads the tenant from a claim of a bearer JWT, verified with jose, and checks
 * that the token names the resolved tenant (`jwtTenancy`).
 */
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey, type KeyLike } from 'jose'
import { TenantryError } from '../errors/index.ts'
import type { Tenant } from '../tenant/model.ts'
import { headerValues, type TenantIdentifier, type TenantRequest, type TenantResolver } from './request.ts'
import { slugOrId } from './request-resolvers.ts'

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export interface JwtResolverOptions {
  /** A verification key (public key or HMAC secret bytes). Give `key` or `jwks`. */
  readonly key?: KeyLike | Uint8Array
  /** A JWKS: its URL (fetched and cached by jose), a key set object, or a jose key getter. */
  readonly jwks?: URL | string | JSONWebKeySet | JWTVerifyGetKey
  /** Required `iss`. */
  readonly issuer: string | readonly string[]
  /** Required `aud`. */
  readonly audience: string | readonly string[]
  /** The claim that names the tenant (slug, or id when a UUID); default `tenant`. */
  readonly claim?: string
  /** Accepted algorithms, e.g. `['RS256']` or `['HS256']`; `none` is never accepted. */
  readonly algorithms: readonly string[]
  /** Seconds of clock skew tolerated for `exp` / `nbf`; default 5. */
  readonly clockToleranceSeconds?: number
  /** When set, a token must carry `iat` and be at most this many seconds old, whatever its `exp` says. */
  readonly maxTokenAgeSeconds?: number
  /** Where the token is; default the `Authorization: Bearer` header. */
  readonly token?: (request: TenantRequest) => string | undefined
}

function optionError(api: string, path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${api}: ${path} ${message}`, { details: [{ path, message }] })
}

function bearerToken(request: TenantRequest): string | undefined {
  for (const value of headerValues(request, 'authorization')) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(value)
    if (match) return match[1]
  }
  return undefined
}

function keyGetter(options: JwtResolverOptions, api: string): KeyLike | Uint8Array | JWTVerifyGetKey {
  const { key, jwks } = options
  if ((key === undefined) === (jwks === undefined)) throw optionError(api, 'key', 'or jwks must be given (exactly one of them)')
  if (key !== undefined) return key
  if (typeof jwks === 'function') return jwks
  if (jwks instanceof URL || typeof jwks === 'string') return createRemoteJWKSet(new URL(String(jwks)))
  if (typeof jwks === 'object' && jwks !== null && Array.isArray((jwks as JSONWebKeySet).keys)) return createLocalJWKSet(jwks as JSONWebKeySet)
  throw optionError(api, 'jwks', 'must be a URL, a JSON Web Key Set or a key getter')
}

function nonEmptyList(value: unknown, path: string, api: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw optionError(api, path, 'must be a non-empty string or list of strings')
  }
  return list as string[]
}

/** A token jose accepted, kept per request so it is verified once. */
interface VerifiedToken {
  readonly token: string
  readonly payload: JWTPayload
  readonly identifier: TenantIdentifier
}

/** Verifies a request's bearer JWT and reads its tenant claim; shared by the resolver and `authenticate`. */
export interface TokenVerifier {
  /** Undefined when the request carries no JWT-shaped token; throws UNAUTHENTICATED for a token that fails or names no tenant. */
  verify(request: TenantRequest): Promise<VerifiedToken | undefined>
}

const INVALID_TOKEN = { 'WWW-Authenticate': 'Bearer error="invalid_token"' }

/** How errors name the token and what they tell the caller to do. */
export interface TokenWording {
  readonly what: string
  readonly renew: string
  readonly send: string
  /** The `typ` header a token must carry (a service assertion's); none required when absent. */
  readonly typ?: string
}

const BEARER_WORDING: TokenWording = { what: 'The bearer token', renew: 'sign in again', send: 'Send a bearer token issued for this tenant (Authorization: Bearer <JWT>)' }

/** @internal The verifier behind jwtResolver/jwtTenancy, and serviceTenancy's. */
export function tokenVerifier(options: JwtResolverOptions, api: string, wording: TokenWording = BEARER_WORDING): TokenVerifier {
  if (typeof options !== 'object' || options === null) throw optionError(api, 'options', 'must be an object')
  const key = keyGetter(options, api)
  const issuer = nonEmptyList(options.issuer, 'issuer', api)
  const audience = nonEmptyList(options.audience, 'audience', api)
  const algorithms = nonEmptyList(options.algorithms, 'algorithms', api)
  if (algorithms.some((alg) => alg.toLowerCase() === 'none')) throw optionError(api, 'algorithms', 'must not contain "none"')
  const claim = options.claim ?? 'tenant'
  if (typeof claim !== 'string' || claim.length === 0) throw optionError(api, 'claim', 'must be a claim name')
  const clockTolerance = options.clockToleranceSeconds ?? 5
  const maxTokenAge = options.maxTokenAgeSeconds
  if (maxTokenAge !== undefined && !(Number.isFinite(maxTokenAge) && maxTokenAge > 0)) throw optionError(api, 'maxTokenAgeSeconds', 'must be a positive number of seconds')
  const readToken = options.token ?? bearerToken
  if (typeof readToken !== 'function') throw optionError(api, 'token', 'must be a function (request) => string | undefined')
  // Keyed by the request object: the resolver verifies, `authenticate` reads the same answer.
  const verified = new WeakMap<TenantRequest, VerifiedToken>()

  function stillValid(entry: VerifiedToken, token: string): boolean {
    // A request object reused after its token expired must not keep the old answer.
    const { exp, iat } = entry.payload
    const now = Date.now() / 1000
    if (maxTokenAge !== undefined && !(typeof iat === 'number' && iat + maxTokenAge + clockTolerance > now)) return false
    return entry.token === token && typeof exp === 'number' && exp + clockTolerance > now
  }

  return {
    async verify(request) {
      const token = readToken(request)
      if (token === undefined || !JWT_SHAPE.test(token)) return undefined
      const known = verified.get(request)
      if (known !== undefined && stillValid(known, token)) return known
      let payload: JWTPayload
      try {
        // The overloads differ only by key kind; both verify the same way.
        ;({ payload } = await jwtVerify(token, key as Uint8Array, {
          issuer, audience, algorithms, clockTolerance, requiredClaims: maxTokenAge === undefined ? ['exp'] : ['exp', 'iat'], ...(maxTokenAge === undefined ? {} : { maxTokenAge }), ...(wording.typ === undefined ? {} : { typ: wording.typ }),
        }))
      } catch (error) {
        throw new TenantryError('UNAUTHENTICATED', `${wording.what} is not valid (signature, expiry, age, issuer or audience); ${wording.renew}`, {
          cause: error,
          headers: INVALID_TOKEN,
        })
      }
      // A verified token is a credential: one that names no tenant must not fall
      // through to the host's tenant, so it is refused here rather than ignored.
      const value = payload[claim]
      if (typeof value !== 'string' || value.length === 0) {
        throw new TenantryError('UNAUTHENTICATED', `${wording.what} names no tenant: its "${claim}" claim must be one non-empty string; ask for a token issued for a tenant`, {
          headers: INVALID_TOKEN,
          details: [{ path: `token.${claim}`, message: 'must be one non-empty string' }],
        })
      }
      const entry: VerifiedToken = { token, payload, identifier: slugOrId(value) }
      verified.set(request, entry)
      return entry
    },
  }
}

function resolverOf(verifier: TokenVerifier, name = 'jwt'): TenantResolver {
  return {
    name,
    async identify(request) {
      return (await verifier.verify(request))?.identifier
    },
  }
}

/**
 * Reads the tenant from a claim of a bearer JWT. A token is used only after
 * jose's `jwtVerify` accepted its signature, `exp`/`nbf`, issuer and audience
 * under the listed algorithms: an unsigned (`alg: none`), forged, expired or
 * foreign token throws UNAUTHENTICATED and never identifies a tenant. So does a
 * valid token whose claim is not one non-empty string (missing, empty, null, a
 * number, an object, an array): it names no tenant, and must not be served as
 * the host's. A bearer credential that is not JWT-shaped (an API key) is left
 * alone (`undefined`).
 *
 * The resolver identifies; it does not authenticate. Use `jwtTenancy` to get the
 * resolver together with the `authenticate` that checks the token against the
 * resolved tenant.
 *
 * @example
 * const byToken = jwtResolver({
 *   jwks: 'https://auth.example.com/.well-known/jwks.json',
 *   issuer: 'https://auth.example.com/',
 *   audience: 'tasks-api',
 *   algorithms: ['RS256'],
 *   claim: 'tenant',
 * })
 */
export function jwtResolver(options: JwtResolverOptions): TenantResolver {
  return resolverOf(tokenVerifier(options, 'jwtResolver'))
}

/** What `jwtTenancy().authenticate` returns for an accepted token (kept as `tenantAuth`). */
export interface JwtAuthentication {
  /** The verified token's payload. */
  readonly claims: JWTPayload
}

/** A JWT resolver and the `authenticate` that goes with it. */
export interface JwtTenancy {
  /** The `jwtResolver`: put it in `TenantResolution`'s resolvers. */
  readonly resolver: TenantResolver
  /**
   * Accepts a request only when it carries a verified token whose claim names
   * `tenant` (by id, or by slug case-insensitively): UNAUTHENTICATED without
   * one, TENANT_MISMATCH when it names another tenant.
   */
  readonly authenticate: (request: TenantRequest, tenant: Pick<Tenant, 'id' | 'slug'>) => Promise<JwtAuthentication>
}

function namesTenant(identifier: TenantIdentifier, tenant: Pick<Tenant, 'id' | 'slug'>): boolean {
  switch (identifier.by) {
    case 'id':
      return identifier.id === tenant.id.toLowerCase()
    case 'slug':
      return identifier.slug === tenant.slug.toLowerCase()
    case 'domain':
      return false
  }
}

/**
 * JWT tenancy that is safe by construction: `resolver` reads the tenant from the
 * token, and `authenticate` (for `TenantHttpOptions.authenticate`) lets a request
 * through only when it carried a token that verified and whose claim names the
 * resolved tenant. The token is verified once per request (the resolver's answer
 * is shared with `authenticate`); when the resolver did not see the request
 * (not in the resolution list), `authenticate` verifies the token itself.
 *
 * - no bearer JWT, or an invalid one, or one naming no tenant: UNAUTHENTICATED (401)
 * - a valid token naming another tenant than the resolved one: TENANT_MISMATCH (403)
 *
 * @example
 * const jwt = jwtTenancy({ jwks: 'https://auth.example.com/.well-known/jwks.json', issuer: 'https://auth.example.com/', audience: 'tasks-api', algorithms: ['RS256'] })
 * const resolution = new TenantResolution({ resolvers: [subdomainResolver({ baseDomains: ['example.com'] }), jwt.resolver], directory })
 * await app.register(tenantryFastify, { resolution, authenticate: jwt.authenticate }) // tenantAuth: { claims }
 */
export function jwtTenancy(options: JwtResolverOptions): JwtTenancy {
  return tenancyOf(tokenVerifier(options, 'jwtTenancy'), 'jwt', BEARER_WORDING)
}

/** @internal The resolver and `authenticate` over one verifier. */
export function tenancyOf(verifier: TokenVerifier, name: string, wording: TokenWording): JwtTenancy {
  return {
    resolver: resolverOf(verifier, name),
    async authenticate(request, tenant) {
      const verified = await verifier.verify(request)
      if (verified === undefined) {
        throw new TenantryError('UNAUTHENTICATED', wording.send, {
          headers: { 'WWW-Authenticate': 'Bearer realm="tenantry"' },
        })
      }
      if (!namesTenant(verified.identifier, tenant)) {
        throw new TenantryError('TENANT_MISMATCH', `${wording.what} was issued for another tenant than "${tenant.slug}"`)
      }
      return { claims: verified.payload }
    },
  }
}
