import { validationError, type ValidationIssue } from '../errors/index.ts'

/**
 * What the fair-share parts need to know of a tenant: its id (the key of its
 * counters and cache entries), its plan, and its settings (per-tenant overrides
 * such as `settings.rateLimit`). A catalog `Tenant` fits; so does `{ id, plan }`.
 */
export interface FairShareTenant {
  readonly id: string
  readonly plan?: string | undefined
  readonly settings?: Readonly<Record<string, unknown>> | undefined
}

/** Throws VALIDATION_FAILED unless `tenant` has a non-empty string id. */
export function assertFairShareTenant(tenant: FairShareTenant, what: string): void {
  if (typeof tenant !== 'object' || tenant === null || typeof tenant.id !== 'string' || tenant.id.length === 0) {
    throw validationError([{ path: 'tenant.id', message: `${what} needs a tenant with a non-empty string id` }])
  }
}

/** A positive safe integer, or an issue at `path`. */
export function checkPositiveInteger(value: unknown, path: string, issues: ValidationIssue[], max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    issues.push({ path, message: `must be an integer from 1 to ${max}` })
  }
}

/** A non-negative safe integer (a duration that may be 0), or an issue at `path`. */
export function checkNonNegativeInteger(value: unknown, path: string, issues: ValidationIssue[], max = 2_147_483_647): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    issues.push({ path, message: `must be an integer from 0 to ${max}` })
  }
}

/**
 * Remembers which tenants already had a warning about a bad setting, so a broken
 * override is logged once and not on every request. Bounded: past `max` ids it
 * starts again, which at worst repeats a warning.
 */
export class WarnedOnce {
  readonly #seen = new Set<string>()
  constructor(private readonly max = 10_000) {}

  /** True the first time `id` is seen. */
  first(id: string): boolean {
    if (this.#seen.has(id)) return false
    if (this.#seen.size >= this.max) this.#seen.clear()
    this.#seen.add(id)
    return true
  }
}
