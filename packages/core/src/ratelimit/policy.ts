import { validationError, type ValidationIssue } from '../errors/index.ts'
import { checkPositiveInteger, type FairShareTenant } from '../fair-share/tenant.ts'

/** A plan's limit: `limit` units (requests, unless routes cost more) per `windowMs`. */
export interface RateLimitPlan {
  readonly limit: number
  readonly windowMs: number
}

/** The limit that applies to one tenant, as the limiter worked it out. */
export interface RateLimitPolicy {
  /** The policy's name in the headers: the plan, with `/<bucket>` for a named bucket. */
  readonly name: string
  readonly limit: number
  readonly windowMs: number
  readonly slots: number
  readonly bucket: string
  /** `'plan'`, or `'tenant'` when `tenant.settings.<settingsKey>` overrode it. */
  readonly source: 'plan' | 'tenant'
  /** The `RateLimit-Policy` field value for this policy (it does not change between responses). */
  readonly header: string
  /** The name as a Structured Fields String, for the `RateLimit` field. */
  readonly quotedName: string
}

/** Longest window accepted: 31 days (beyond that a rate limit is a quota). */
export const MAX_WINDOW_MS = 31 * 24 * 3600 * 1000

/** Most slots a window may be cut into (each is a counter per tenant). */
export const MAX_SLOTS = 600

/** Checks every plan up front (fail at start); lists every problem in one VALIDATION_FAILED. */
export function checkPlans(plans: unknown, defaultPlan: string, issues: ValidationIssue[]): void {
  if (typeof plans !== 'object' || plans === null || Array.isArray(plans)) {
    issues.push({ path: 'options.plans', message: 'must be an object { [plan]: { limit, windowMs } }' })
    return
  }
  for (const [name, plan] of Object.entries(plans)) checkPlan(plan, `options.plans.${name}`, issues)
  if (!Object.hasOwn(plans, defaultPlan)) {
    issues.push({ path: 'options.plans', message: `must include the default plan "${defaultPlan}" (used for tenants whose plan is not listed)` })
  }
}

function checkPlan(plan: unknown, path: string, issues: ValidationIssue[]): void {
  if (typeof plan !== 'object' || plan === null) {
    issues.push({ path, message: 'must be { limit, windowMs }' })
    return
  }
  const p = plan as Record<string, unknown>
  checkPositiveInteger(p.limit, `${path}.limit`, issues)
  checkPositiveInteger(p.windowMs, `${path}.windowMs`, issues, MAX_WINDOW_MS)
}

/**
 * Reads a per-tenant override from `tenant.settings[key]`: `{ limit?, windowMs? }`,
 * each falling back to the plan's. Answers undefined when there is none, and
 * the problems when there is a malformed one (the caller logs and ignores it).
 */
export function readOverride(tenant: FairShareTenant, key: string): Partial<RateLimitPlan> | ValidationIssue[] | undefined {
  const raw = tenant.settings?.[key]
  if (raw === undefined || raw === null) return undefined
  const issues: ValidationIssue[] = []
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return [{ path: `settings.${key}`, message: 'must be an object { limit?, windowMs? }' }]
  }
  const o = raw as Record<string, unknown>
  if (o.limit !== undefined) checkPositiveInteger(o.limit, `settings.${key}.limit`, issues)
  if (o.windowMs !== undefined) checkPositiveInteger(o.windowMs, `settings.${key}.windowMs`, issues, MAX_WINDOW_MS)
  if (issues.length > 0) return issues
  const override: { limit?: number; windowMs?: number } = {}
  if (o.limit !== undefined) override.limit = o.limit as number
  if (o.windowMs !== undefined) override.windowMs = o.windowMs as number
  return override
}

/** A bucket name: 1-100 printable characters. */
export function checkBucket(bucket: unknown, path: string): string {
  if (typeof bucket !== 'string' || bucket.length === 0 || bucket.length > 100) {
    throw validationError([{ path, message: 'must be a string of 1 to 100 characters' }])
  }
  return bucket
}
