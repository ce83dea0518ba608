/**
 * The tenant across services: the caller sends its tenant as a signed,
 * audience-bound assertion of seconds (a JWT in the `Tenant-Assertion`
 * header); the receiving service accepts only a valid assertion for itself.
 * A raw tenant header (`X-Tenant-ID`) from anyone is never what an internal
 * service trusts; OpenTelemetry baggage carries the tenant for tracing only.
 */
import { randomUUID } from 'node:crypto'
import { SignJWT, type KeyLike } from 'jose'
import { currentTenant } from '../context/tenant-context.ts'
import { TenantryError } from '../errors/index.ts'
import { headerValues, type TenantRequest } from '../resolve/request.ts'
import { tenancyOf, tokenVerifier, type JwtResolverOptions, type JwtTenancy } from '../resolve/jwt-resolver.ts'

/** The header an assertion travels in. */
export const TENANT_ASSERTION_HEADER = 'tenant-assertion'

const MAX_TTL_SECONDS = 300

/** The `typ` header of an assertion. */
const ASSERTION_TYP = 'tenant-assertion+jwt'

/**
 * Options of `TenantAssertionSigner`.
 *
 * @example
 * const options: TenantAssertionSignerOptions = { key: secret, algorithm: 'HS256', issuer: 'tasks-api', ttlSeconds: 30 }
 */
export interface TenantAssertionSignerOptions {
  /** The signing key: HMAC secret bytes (at least 32) or a private key. */
  readonly key: KeyLike | Uint8Array
  /** e.g. `HS256`, `EdDSA`, `ES256`, `RS256`; never `none`. */
  readonly algorithm: string
  /** This service's name (`iss`); the receiver lists the issuers it trusts. */
  readonly issuer: string
  /** Lifetime of an assertion, 1-300 seconds; default 30. */
  readonly ttlSeconds?: number
}

function invalid(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/**
 * Signs the current tenant for one downstream service. Each assertion names
 * the tenant by id (`tenant`, plus `tenant_slug`), its audience (the service
 * called), this service as issuer, and lives `ttlSeconds`. Outside a tenant
 * scope it throws TENANT_CONTEXT_MISSING: nothing is sent without a tenant.
 *
 * @example
 * const signer = new TenantAssertionSigner({ key: serviceKey, algorithm: 'HS256', issuer: 'tasks-api' })
 * const reports = signer.fetch('reports-service')          // a fetch that sends the assertion
 * const answer = await reports('http://reports.internal/api/summary')
 */
export class TenantAssertionSigner {
  readonly #key: KeyLike | Uint8Array
  readonly #algorithm: string
  readonly #issuer: string
  readonly #ttl: number

  constructor(options: TenantAssertionSignerOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object')
    const { key, algorithm, issuer, ttlSeconds = 30 } = options
    if (key === undefined || key === null) throw invalid('options.key', 'is required (HMAC secret bytes or a private key)')
    if (key instanceof Uint8Array && key.length < 32) throw invalid('options.key', 'must be at least 32 bytes for HMAC')
    if (typeof algorithm !== 'string' || algorithm.length === 0 || algorithm.toLowerCase() === 'none') throw invalid('options.algorithm', 'must name a signing algorithm (not none)')
    if (typeof issuer !== 'string' || issuer.length === 0) throw invalid('options.issuer', 'must be this service\'s name')
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) throw invalid('options.ttlSeconds', `must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`)
    this.#key = key
    this.#algorithm = algorithm
    this.#issuer = issuer
    this.#ttl = ttlSeconds
  }

  /**
   * An assertion of the current tenant for `audience`.
   *
   * @example
   * const token = await runWithTenant(acme, () => signer.sign('reports-service'))
   */
  async sign(audience: string): Promise<string> {
    if (typeof audience !== 'string' || audience.length === 0) throw invalid('audience', 'must name the service called')
    const tenant = currentTenant()
    const now = Math.floor(Date.now() / 1000)
    return new SignJWT({ tenant: tenant.id, tenant_slug: tenant.slug })
      .setProtectedHeader({ alg: this.#algorithm, typ: ASSERTION_TYP })
      .setIssuer(this.#issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#ttl)
      .setJti(randomUUID())
      .sign(this.#key as Uint8Array)
  }

  /**
   * The headers to send to `audience`: `{ 'tenant-assertion': <JWT> }`.
   *
   * @example
   * await fetch(url, { headers: { ...(await signer.headers('reports-service')), accept: 'application/json' } })
   */
  async headers(audience: string): Promise<Record<string, string>> {
    return { [TENANT_ASSERTION_HEADER]: await this.sign(audience) }
  }

  /**
   * A `fetch` for one downstream service: each call carries a fresh assertion
   * of the tenant in scope (a call outside a tenant scope throws
   * TENANT_CONTEXT_MISSING before anything is sent). A `tenant-assertion` or
   * `x-tenant-id` header given by the caller is replaced or removed.
   *
   * @example
   * const reports = signer.fetch('reports-service')
   * app.get('/api/summary', async () => (await reports('http://reports.internal/summary')).json())
   */
  fetch(audience: string, fetchImpl: typeof fetch = globalThis.fetch): typeof fetch {
    if (typeof fetchImpl !== 'function') throw invalid('fetchImpl', 'must be a fetch function')
    return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined))
      headers.delete('x-tenant-id')
      headers.set(TENANT_ASSERTION_HEADER, await this.sign(audience))
      return fetchImpl(input, { ...init, headers })
    }) as typeof fetch
  }
}

/**
 * Options of `serviceTenancy`: who may assert (issuers, keys, algorithms), for
 * which audience (this service), and how old an assertion may be.
 *
 * @example
 * const options: ServiceTenancyOptions = { key: serviceKey, algorithms: ['HS256'], issuer: ['tasks-api'], audience: 'reports-service' }
 */
export type ServiceTenancyOptions = Omit<JwtResolverOptions, 'claim' | 'token' | 'maxTokenAgeSeconds'> & {
  /** The oldest assertion accepted, whatever its `exp`; default 60, at most 300. */
  readonly maxAgeSeconds?: number
}

/**
 * The receiving side: a resolver that reads the tenant only from a valid
 * `Tenant-Assertion` for this service (signature, issuer, audience, `exp`
 * and age checked by jose), and the `authenticate` that refuses a request
 * without one (UNAUTHENTICATED) or naming another tenant (TENANT_MISMATCH).
 * Use it alone in the internal service's resolution: a raw `X-Tenant-ID`
 * header is then never read.
 *
 * @example
 * const assertions = serviceTenancy({ key: serviceKey, algorithms: ['HS256'], issuer: 'tasks-api', audience: 'reports-service' })
 * const resolution = new TenantResolution({ resolvers: [assertions.resolver], directory })
 * await app.register(tenantryFastify, { resolution, authenticate: assertions.authenticate })
 */
export function serviceTenancy(options: ServiceTenancyOptions): JwtTenancy {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'must be an object')
  const maxAge = options.maxAgeSeconds ?? 60
  if (!Number.isFinite(maxAge) || maxAge <= 0 || maxAge > MAX_TTL_SECONDS) throw invalid('options.maxAgeSeconds', `must be a number of seconds from 1 to ${MAX_TTL_SECONDS}`)
  const { maxAgeSeconds: _ignored, ...jwt } = options as ServiceTenancyOptions & Record<string, unknown>
  const verifier = tokenVerifier({ ...jwt, claim: 'tenant', token: assertionOf, maxTokenAgeSeconds: maxAge } as JwtResolverOptions, 'serviceTenancy', SERVICE_WORDING)
  return tenancyOf(verifier, 'assertion', SERVICE_WORDING)
}

const SERVICE_WORDING = {
  // Only a token signed as an assertion: a user's JWT under the same key is not one.
  typ: ASSERTION_TYP,
  what: 'The tenant assertion',
  renew: 'the calling service must send a fresh one (TenantAssertionSigner)',
  send: 'Send a tenant assertion for this service (the Tenant-Assertion header, from TenantAssertionSigner); a raw tenant header is not accepted',
} as const

/** The one assertion of a request; two (a header given twice) is none. */
function assertionOf(request: TenantRequest): string | undefined {
  const values = headerValues(request, TENANT_ASSERTION_HEADER)
  if (values.length !== 1) return undefined
  const value = values[0]!.trim()
  return value.includes(',') ? undefined : value
}
