/**
 * The queue-independent half of per-tenant job fairness: the options every
 * queue adapter takes (plan weights, a per-tenant cap, the cap's lease) and
 * the rank a tenant's n-th pending job gets. The adapters (`@tenantry/bullmq`,
 * `@tenantry/pg-boss`) keep the counts in their queue's own store and turn the
 * rank into that queue's priority.
 */
import { TenantryError } from '../errors/index.ts'

/**
 * Options of a queue adapter's `FairShare`.
 *
 * @example
 * new FairShare({ weights: { free: 1, pro: 4 }, concurrencyPerTenant: 2 })
 */
export interface FairnessOptions {
  /** Weights by plan (`tenant.plan`): a tenant of weight 4 gets 4 jobs taken for each 1 of a weight-1 tenant. Default 1. */
  readonly weights?: Readonly<Record<string, number>>
  /** At most this many jobs of one tenant run at once, over every worker. Default: no cap. */
  readonly concurrencyPerTenant?: number
  /** A running job's hold on its tenant's slot lasts this long unless renewed (a dead worker's slot comes back then). Default 30,000 ms. */
  readonly leaseMs?: number
  /** A job over its tenant's cap waits this long before it is looked at again. Default 250 ms. */
  readonly retryDelayMs?: number
}

/** Validated fairness settings, with their defaults. */
export interface FairnessSettings {
  readonly weights: Readonly<Record<string, number>>
  readonly cap: number | undefined
  readonly leaseMs: number
  readonly retryDelayMs: number
}

/** The fairness count a system job is kept under: system work shares the workers with tenants, it does not jump them. */
export const SYSTEM_FAIRNESS_KEY = 'system'

function invalid(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/**
 * Checks fairness options (VALIDATION_FAILED naming the bad one) and fills
 * in the defaults.
 *
 * @example
 * const settings = fairnessSettings({ weights: { pro: 4 } })   // { weights, cap: undefined, leaseMs: 30000, retryDelayMs: 250 }
 */
export function fairnessSettings(options: FairnessOptions = {}): FairnessSettings {
  const weights = options.weights ?? {}
  for (const [plan, weight] of Object.entries(weights)) {
    if (!(typeof weight === 'number' && Number.isFinite(weight) && weight > 0 && weight <= 1000)) throw invalid(`options.weights.${plan}`, 'must be a number above 0, at most 1000')
  }
  const cap = options.concurrencyPerTenant
  if (cap !== undefined && !(Number.isSafeInteger(cap) && cap >= 1 && cap <= 100_000)) throw invalid('options.concurrencyPerTenant', 'must be a whole number from 1 to 100,000')
  const leaseMs = options.leaseMs ?? 30_000
  if (!(Number.isSafeInteger(leaseMs) && leaseMs >= 1_000 && leaseMs <= 86_400_000)) throw invalid('options.leaseMs', 'must be a whole number of milliseconds from 1,000 to 86,400,000 (a day)')
  const retryDelayMs = options.retryDelayMs ?? 250
  if (!(Number.isSafeInteger(retryDelayMs) && retryDelayMs >= 10 && retryDelayMs <= 3_600_000)) throw invalid('options.retryDelayMs', 'must be a whole number of milliseconds from 10 to 3,600,000 (an hour)')
  return { weights: { ...weights }, cap, leaseMs, retryDelayMs }
}

/**
 * A tenant's weight: its plan's, else 1.
 *
 * @example
 * weightOf(settings, { plan: 'pro' })   // 4
 */
export function weightOf(settings: Pick<FairnessSettings, 'weights'>, tenant: { readonly plan?: string | undefined }): number {
  // Own properties only: a plan named `constructor` or `toString` is not a weight.
  return tenant.plan !== undefined && Object.hasOwn(settings.weights, tenant.plan) ? settings.weights[tenant.plan]! : 1
}

/**
 * The fair ranks of `count` new jobs of a tenant whose pending count is now
 * `last` (these jobs included): the n-th pending job ranks ⌈n / weight⌉, so
 * the workers take the tenants' jobs in turn (weighted round-robin), and a
 * tenant's first job ranks 1 however many jobs another tenant has queued.
 * Rank 1 goes first; the adapter maps ranks onto its queue's priorities.
 *
 * @example
 * fairRanks(3, 3, 1)   // [1, 2, 3]: a weight-1 tenant's first three jobs
 * fairRanks(3, 3, 2)   // [1, 1, 2]
 */
export function fairRanks(last: number, count: number, weight: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.max(1, Math.ceil((last - count + 1 + i) / weight)))
}
