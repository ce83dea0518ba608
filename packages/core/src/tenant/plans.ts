import { validationError, type ValidationIssue } from '../errors/index.ts'
import { checkPositiveInteger, checkNonNegativeInteger } from '../fair-share/tenant.ts'
import type { RateLimitPlan } from '../ratelimit/policy.ts'
import { MAX_ISSUES } from '../errors/tenantry-error.ts'
import { isPlainData, pathStep } from './plain-data.ts'

/** What a plan gives its tenants. */
export interface PlanDefinition {
  /**
   * Requests per window, as the rate limiter enforces them. A plan without one
   * gets the default plan's (which then must have one).
   */
  readonly rateLimit?: RateLimitPlan
  /** Concurrency, as the bulkhead enforces it. */
  readonly concurrency?: { readonly maxConcurrent?: number; readonly maxQueue?: number }
  /**
   * Checks the settings of a tenant on this plan, beyond the keys Tenantry
   * knows (`rateLimit`, `bulkhead`): the problems found, none when valid. A zod
   * schema fits: `(s) => schema.safeParse(s).error?.issues.map(…) ?? []`.
   */
  readonly settings?: (settings: Readonly<Record<string, unknown>>) => readonly ValidationIssue[]
}

const PLAN_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/

/**
 * The plans a deployment defines, by name: the only plans a tenant may be on,
 * with the limits each gives and how each checks a tenant's settings. The
 * lifecycle and the admin API ask it before anything is written.
 *
 * @example
 * const plans = new PlanRegistry({
 *   free: { rateLimit: { limit: 600, windowMs: 60_000 } },
 *   pro: { rateLimit: { limit: 6_000, windowMs: 60_000 }, concurrency: { maxConcurrent: 8 } },
 * }, { defaultPlan: 'free' })
 * plans.check({ plan: 'gold' }) // [{ path: 'plan', message: 'must be one of: free, pro' }]
 */
export class PlanRegistry {
  readonly #plans: ReadonlyMap<string, PlanDefinition>
  readonly defaultPlan: string

  constructor(plans: Readonly<Record<string, PlanDefinition>>, options: { readonly defaultPlan?: string } = {}) {
    const issues: ValidationIssue[] = []
    if (typeof plans !== 'object' || plans === null || Array.isArray(plans) || Object.keys(plans).length === 0) {
      throw validationError([{ path: 'plans', message: 'must name at least one plan: { [name]: { rateLimit?, concurrency?, settings? } }' }])
    }
    for (const [name, plan] of Object.entries(plans)) {
      if (!PLAN_NAME.test(name)) issues.push({ path: `plans.${name}`, message: 'a plan name is lowercase letters, digits, "-" and "_" (1-32, starting with a letter or digit)' })
      if (typeof plan !== 'object' || plan === null) {
        issues.push({ path: `plans.${name}`, message: 'must be an object { rateLimit?, concurrency?, settings? }' })
        continue
      }
      if (plan.rateLimit !== undefined) {
        checkPositiveInteger(plan.rateLimit.limit, `plans.${name}.rateLimit.limit`, issues)
        checkPositiveInteger(plan.rateLimit.windowMs, `plans.${name}.rateLimit.windowMs`, issues)
      }
      if (plan.concurrency?.maxConcurrent !== undefined) checkPositiveInteger(plan.concurrency.maxConcurrent, `plans.${name}.concurrency.maxConcurrent`, issues)
      if (plan.concurrency?.maxQueue !== undefined) checkNonNegativeInteger(plan.concurrency.maxQueue, `plans.${name}.concurrency.maxQueue`, issues)
      if (plan.settings !== undefined && typeof plan.settings !== 'function') issues.push({ path: `plans.${name}.settings`, message: 'must be a function (settings) => issues' })
    }
    const defaultPlan = options.defaultPlan ?? Object.keys(plans)[0] ?? ''
    if (!Object.hasOwn(plans, defaultPlan)) issues.push({ path: 'defaultPlan', message: `must be one of the plans (${Object.keys(plans).join(', ')})` })
    if (issues.length > 0) throw validationError(issues)
    this.#plans = new Map(Object.entries(plans))
    this.defaultPlan = defaultPlan
  }

  /** The plans' names, in the order they were defined. */
  get names(): readonly string[] {
    return [...this.#plans.keys()]
  }

  /** A plan's definition, or undefined for a name that is not one. */
  get(name: string): PlanDefinition | undefined {
    return this.#plans.get(name)
  }

  /** The rate limit of every plan that has one, as `RateLimiter` takes them. */
  rateLimits(): Record<string, RateLimitPlan> {
    return Object.fromEntries([...this.#plans].flatMap(([name, plan]) => (plan.rateLimit === undefined ? [] : [[name, plan.rateLimit]])))
  }

  /** The concurrency of every plan that has one, as `TenantBulkhead` takes them. */
  concurrencies(): Record<string, { maxConcurrent?: number; maxQueue?: number }> {
    return Object.fromEntries([...this.#plans].flatMap(([name, plan]) => (plan.concurrency === undefined ? [] : [[name, plan.concurrency]])))
  }

  /**
   * The problems of a plan and settings a tenant would get (`plan` defaults to
   * the tenant's current one, `current`): an unknown plan (settings for a
   * tenant whose current plan is not defined included: give a plan with
   * them); settings that are not
   * a plain JSON object (a `__proto__`, `constructor` or `prototype` key
   * anywhere in it included); a malformed `rateLimit` or `bulkhead` override;
   * and what the plan's own `settings` check says.
   *
   * @example
   * const issues = plans.check({ plan: body.plan, settings: body.settings }, tenant.plan)
   * if (issues.length) throw validationError(issues)
   */
  check(input: { readonly plan?: unknown; readonly settings?: unknown }, current?: string): ValidationIssue[] {
    const issues: ValidationIssue[] = []
    const planName = input.plan ?? current ?? this.defaultPlan
    const plan = typeof planName === 'string' ? this.#plans.get(planName) : undefined
    if (input.plan !== undefined && plan === undefined) {
      issues.push({ path: 'plan', message: `must be one of the plans this deployment defines: ${this.names.join(', ')}` })
    }
    if (input.settings === undefined) return issues
    // Settings under a plan this deployment does not define (a retired one) cannot be checked: refused, not let through.
    if (input.plan === undefined && plan === undefined) {
      issues.push({ path: 'plan', message: `is "${typeof planName === 'string' ? planName.slice(0, 32) : String(planName)}", which this deployment does not define (${this.names.join(', ')}): give one of those plans in the same change, so the settings can be checked against it` })
      return issues
    }
    if (!isPlainData(input.settings, 'settings', issues)) return issues
    const settings = input.settings as Record<string, unknown>
    checkOverride(settings.rateLimit, 'settings.rateLimit', ['limit', 'windowMs'], issues)
    checkOverride(settings.bulkhead, 'settings.bulkhead', ['maxConcurrent', 'maxQueue'], issues)
    if (plan?.settings !== undefined) {
      for (const issue of plan.settings(settings)) issues.push({ path: issue.path.startsWith('settings') ? issue.path : `settings.${issue.path}`, message: issue.message })
    }
    return issues
  }

  /** Throws VALIDATION_FAILED with every problem `check` finds. */
  assertValid(input: { readonly plan?: unknown; readonly settings?: unknown }, current?: string): void {
    const issues = this.check(input, current)
    if (issues.length > 0) {
      // Bounded as every validation error is: at most 50 issues, paths and messages cut.
      throw validationError(issues, 'Invalid plan or settings')
    }
  }
}

function checkOverride(value: unknown, path: string, keys: readonly string[], issues: ValidationIssue[]): void {
  if (value === undefined || value === null) return
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ path, message: `must be an object { ${keys.map((k) => `${k}?`).join(', ')} }` })
    return
  }
  for (const [key, v] of Object.entries(value)) {
    // Enough said past MAX_ISSUES: an override of thousands of unknown keys is refused without listing them all.
    if (issues.length >= MAX_ISSUES) return
    if (!keys.includes(key)) issues.push({ path: `${path}${pathStep(key)}`, message: `is not one of ${keys.join(', ')}` })
    else if (key === 'maxQueue') checkNonNegativeInteger(v, `${path}.${key}`, issues)
    else checkPositiveInteger(v, `${path}.${key}`, issues)
  }
}
