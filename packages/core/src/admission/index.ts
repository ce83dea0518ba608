import type { PreparedRefusal } from '../errors/index.ts'
import type { Tenant } from '../tenant/model.ts'

/**
 * What an HTTP adapter asks before it runs a tenant's handler: may this request
 * go ahead now? Implementations combine the tenant's rate limit and its
 * concurrency bulkhead (see `docs/limits.md`, `docs/bulkheads.md`).
 */
export interface TenantAdmission {
  /**
   * Admits one request of `tenant`, or throws a TenantryError (`RATE_LIMITED`,
   * `OVERLOADED`) whose `headers` carry `Retry-After` and the rate-limit headers.
   */
  admit(tenant: Tenant, request: AdmissionRequest): Promise<AdmissionTicket>
  /**
   * Optional: a refusal already known in this process for this request of
   * `tenant` (the rate limiter's local deny list), answered at once with no
   * I/O and nothing spent; undefined when `admit` has to decide. The HTTP gate
   * asks it right after resolution, before authentication and `admit`, so a
   * tenant flooding past its limit costs a lookup and a prepared 429 per request.
   */
  refusal?(tenant: Tenant, request: AdmissionRequest): PreparedRefusal | undefined
  /** Optional: what the limiter and the bulkhead have counted (`tenantAdmission` gives it), for a console or metrics. */
  stats?(): AdmissionStats
}

/** What `TenantAdmission.stats()` reports: each part's own stats, when it has one. */
export interface AdmissionStats {
  readonly limiter?: Readonly<Record<string, unknown>>
  readonly bulkhead?: Readonly<Record<string, unknown>>
}

/** The request as admission sees it: enough to pick a per-route cost. */
export interface AdmissionRequest {
  readonly method: string
  /** The route pattern when the framework knows it (`/api/projects/:id`), else the path. */
  readonly route: string
  /**
   * Optional: aborted when the client goes away. A request waiting for a
   * bulkhead slot then leaves the queue instead of holding a place in it.
   */
  readonly signal?: AbortSignal
}

/** An admitted request: headers to send on the response, and the slot to give back. */
export interface AdmissionTicket {
  /** `RateLimit-Policy` / `RateLimit` headers, sent on every response. */
  readonly headers: Readonly<Record<string, string>>
  /** Frees the bulkhead slot; call exactly once when the response is done (idempotent). */
  release(): void
}
