/** Reads the tenant from a claim of a bearer JWT, verified with jose. */
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey, type KeyLike } from 'jose'
import { TenantryError } from '../errors/index.ts'
import { headerValues, type TenantRequest, type TenantResolver } from './request.ts'
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
  /** Where the token is; default the `Authorization: Bearer` header. */
  readonly token?: (request: TenantRequest) => string | undefined
}

function optionError(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `jwtResolver: ${path} ${message}`, { details: [{ path, message }] })
}

function bearerToken(request: TenantRequest): string | undefined {
  for (const value of headerValues(request, 'authorization')) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(value)
    if (match) return match[1]
  }
  return undefined
}

function keyGetter(options: JwtResolverOptions): KeyLike | Uint8Array | JWTVerifyGetKey {
  const { key, jwks } = options
  if ((key === undefined) === (jwks === undefined)) throw optionError('key', 'or jwks must be given (exactly one of them)')
  if (key !== undefined) return key
  if (typeof jwks === 'function') return jwks
  if (jwks instanceof URL || typeof jwks === 'string') return createRemoteJWKSet(new URL(String(jwks)))
  if (typeof jwks === 'object' && jwks !== null && Array.isArray((jwks as JSONWebKeySet).keys)) return createLocalJWKSet(jwks as JSONWebKeySet)
  throw optionError('jwks', 'must be a URL, a JSON Web Key Set or a key getter')
}

function nonEmptyList(value: unknown, path: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.length > 0)) {
    throw optionError(path, 'must be a non-empty string or list of strings')
  }
  return list as string[]
}

/**
 * Reads the tenant from a claim of a bearer JWT. A token is used only after
 * jose's `jwtVerify` accepted its signature, `exp`/`nbf`, issuer and audience
 * under the listed algorithms: an unsigned (`alg: none`), forged, expired or
 * foreign token throws UNAUTHENTICATED and never identifies a tenant. A bearer
 * credential that is not JWT-shaped (an API key) is left alone (`undefined`), as
 * is a valid token without the claim.
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
  if (typeof options !== 'object' || options === null) throw optionError('options', 'must be an object')
  const key = keyGetter(options)
  const issuer = nonEmptyList(options.issuer, 'issuer')
  const audience = nonEmptyList(options.audience, 'audience')
  const algorithms = nonEmptyList(options.algorithms, 'algorithms')
  if (algorithms.some((alg) => alg.toLowerCase() === 'none')) throw optionError('algorithms', 'must not contain "none"')
  const claim = options.claim ?? 'tenant'
  if (typeof claim !== 'string' || claim.length === 0) throw optionError('claim', 'must be a claim name')
  const clockTolerance = options.clockToleranceSeconds ?? 5
  const readToken = options.token ?? bearerToken
  return {
    name: 'jwt',
    async identify(request) {
      const token = readToken(request)
      if (token === undefined || !JWT_SHAPE.test(token)) return undefined
      let payload: Record<string, unknown>
      try {
        // The overloads differ only by key kind; both verify the same way.
        ;({ payload } = await jwtVerify(token, key as Uint8Array, { issuer, audience, algorithms, clockTolerance, requiredClaims: ['exp'] }))
      } catch (error) {
        throw new TenantryError('UNAUTHENTICATED', 'The bearer token is not valid (signature, expiry, issuer or audience); sign in again', {
          cause: error,
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        })
      }
      const value = payload[claim]
      return typeof value === 'string' && value.length > 0 ? slugOrId(value) : undefined
    },
  }
}
