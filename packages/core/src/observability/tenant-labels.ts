import { performance } from 'node:perf_hooks'
import { validationError, type ValidationIssue } from '../errors/index.ts'

export interface TenantLabelsOptions {
  /** Tenants that keep a label of their own; every other one is `other`. Default 100. */
  readonly k?: number
  /** Tenants followed as candidates for a label (the heavy-hitter table); default 4 × k. */
  readonly candidates?: number
  /** Traffic counts halve in this time, so a tenant that goes quiet loses its label. Default 300,000 (5 minutes). */
  readonly halfLifeMs?: number
  /** A monotonic clock in ms; default `performance.now`. */
  readonly now?: () => number
  /** Called with a tenant that lost its label: remove its series (`metric.remove({ tenant })`). */
  readonly onEvict?: (tenantId: string) => void
}

/**
 * A tenant's traffic, forward-decayed: each unit counts 2^((t − landmark) / halfLife),
 * so every count grows in the same units and compares as it is (no decay per
 * call); `inherited` is the part that came with its row (Space-Saving's overestimate).
 */
interface Count {
  score: number
  inherited: number
}

/** How much more traffic a candidate needs than the quietest labeled tenant to take its label. */
const HYSTERESIS = 1.25
/** Candidates sampled for replacement when the table is full (as Redis samples keys to evict). */
const SAMPLE = 8
/** Time is taken in steps of halfLife / 1024: a step's traffic weighs the same (within 0.07 %). */
const STEPS_PER_HALF_LIFE = 1024
/** Counts are scaled back to the present once the weight of one unit passes 2^64. */
const RESCALE_AT = 64

/**
 * Decides the tenant label of per-tenant metrics, so that their series stay
 * bounded whatever the number of tenants: the `k` tenants with the most
 * traffic keep their own label (the tenant's id: stable, and never personal
 * data, unlike a name), every other tenant is counted as `other`. So each
 * metric has at most k + 1 tenant label values.
 *
 * Traffic is counted with exponential decay (`halfLifeMs`), so a tenant that
 * goes quiet falls behind and loses its label to a busier one; `onEvict` then
 * tells the metrics backend to remove that tenant's series. A candidate takes
 * a label once its traffic is 1.25 times the quietest labeled tenant's (so
 * two tenants of about the same traffic do not swap on every request).
 * Candidates are a bounded heavy-hitter table (Space-Saving: a new tenant
 * replaces the smallest of the 8 longest-held rows, starting from its count,
 * which is not counted toward a label): memory is O(candidates), each call
 * O(1) but for a challenge of the quietest labeled tenant, which scans the k
 * labeled tenants. Decay is forward decay (a unit of traffic weighs more the
 * later it comes), so a call does no decay arithmetic; counts are scaled back
 * once in 64 half-lives.
 *
 * @example
 * const labels = new TenantLabels({ k: 100, onEvict: (id) => requests.remove({ tenant: id }) })
 * requests.inc({ tenant: labels.label(tenant.id), route, status })
 */
export class TenantLabels {
  /** The label every tenant without one of its own shares. */
  static readonly OTHER = 'other'
  readonly #k: number
  readonly #max: number
  readonly #halfLifeMs: number
  readonly #now: () => number
  readonly #onEvict: ((tenantId: string) => void) | undefined
  readonly #labeled = new Map<string, Count>()
  readonly #candidates = new Map<string, Count>()
  /** The quietest labeled tenant's score when last looked at (a lower bound: scores only grow; a promotion looks again). */
  #floor = 0
  /** When (in ms) a unit weighs 1. */
  #landmark: number
  /** The time step the weight below is for, and that weight. */
  #step = Number.NaN
  #weight = 1

  constructor(options: TenantLabelsOptions = {}) {
    const { k = 100, halfLifeMs = 300_000, now = () => performance.now(), onEvict } = options
    const candidates = options.candidates ?? 4 * k
    const issues: ValidationIssue[] = []
    if (!Number.isSafeInteger(k) || k < 1) issues.push({ path: 'options.k', message: 'must be a positive whole number' })
    if (!Number.isSafeInteger(candidates) || candidates < 1) issues.push({ path: 'options.candidates', message: 'must be a positive whole number' })
    if (!(halfLifeMs > 0)) issues.push({ path: 'options.halfLifeMs', message: 'must be a positive number of milliseconds' })
    if (typeof now !== 'function') issues.push({ path: 'options.now', message: 'must be a function returning milliseconds' })
    if (onEvict !== undefined && typeof onEvict !== 'function') issues.push({ path: 'options.onEvict', message: 'must be a function (tenantId) => void' })
    if (issues.length > 0) throw validationError(issues)
    this.#k = k
    this.#max = candidates
    this.#halfLifeMs = halfLifeMs
    this.#now = now
    this.#onEvict = onEvict
    this.#landmark = now()
  }

  /** Tenants with a label of their own now. */
  labeled(): string[] {
    return [...this.#labeled.keys()]
  }

  /**
   * Counts `weight` of traffic (default 1) for the tenant and returns the
   * label its metrics carry now: its id, or `'other'`. `at` is when the
   * traffic came, on the `now` clock (default now): a batch of traffic
   * recorded earlier counts as of its own time.
   */
  label(tenantId: string, weight = 1, at?: number): string {
    const units = weight * this.#unit(at ?? this.#now())
    const own = this.#labeled.get(tenantId)
    if (own !== undefined) {
      own.score += units
      return tenantId
    }
    let candidate = this.#candidates.get(tenantId)
    if (candidate === undefined) candidate = this.#admit(tenantId)
    candidate.score += units
    if (this.#labeled.size < this.#k) {
      this.#promote(tenantId, candidate)
      return tenantId
    }
    // Cheap test against the last floor seen before any scan.
    // Only traffic it was seen to send counts toward a label, not the count its row came with.
    if (candidate.score - candidate.inherited > HYSTERESIS * this.#floor && this.#challenge(tenantId, candidate)) return tenantId
    return TenantLabels.OTHER
  }

  /**
   * The label the tenant's metrics carry now (its id, or `'other'`), counting
   * nothing: for traffic that must not move the ranking (a request refused
   * before its caller was authenticated, which anyone can send).
   *
   * @example
   * const label = labels.peek(tenant.id)
   */
  peek(tenantId: string): string {
    return this.#labeled.has(tenantId) ? tenantId : TenantLabels.OTHER
  }

  /** What one unit of traffic weighs now: 2^((now − landmark) / halfLife), worked out once per time step. */
  #unit(at: number): number {
    const step = Math.floor(((at - this.#landmark) * STEPS_PER_HALF_LIFE) / this.#halfLifeMs)
    if (step === this.#step) return this.#weight
    if (step > RESCALE_AT * STEPS_PER_HALF_LIFE) return this.#rescale(at)
    this.#step = step
    // A clock that goes back (a test's) weighs no less than the landmark's unit.
    this.#weight = step > 0 ? 2 ** (step / STEPS_PER_HALF_LIFE) : 1
    return this.#weight
  }

  /** Moves the landmark to now: every count (and the floor) divided by the weight a unit has now. */
  #rescale(now: number): number {
    const scale = 2 ** (-(now - this.#landmark) / this.#halfLifeMs)
    for (const table of [this.#labeled, this.#candidates]) {
      for (const count of table.values()) {
        count.score *= scale
        count.inherited *= scale
      }
    }
    this.#floor *= scale
    this.#landmark = now
    this.#step = 0
    this.#weight = 1
    return 1
  }

  /** A new candidate: a free row, or the smallest of a sample's row, whose count it starts from (Space-Saving). */
  #admit(tenantId: string): Count {
    if (this.#candidates.size < this.#max) {
      const count = { score: 0, inherited: 0 }
      this.#candidates.set(tenantId, count)
      return count
    }
    let victim: string | undefined
    let smallest = Number.POSITIVE_INFINITY
    let seen = 0
    for (const [id, count] of this.#candidates) {
      if (count.score < smallest) {
        smallest = count.score
        victim = id
      }
      if (++seen >= SAMPLE) break
    }
    if (victim !== undefined) this.#candidates.delete(victim)
    const start = smallest === Number.POSITIVE_INFINITY ? 0 : smallest
    const count = { score: start, inherited: start }
    this.#candidates.set(tenantId, count)
    return count
  }

  /** Takes the quietest labeled tenant's label when the candidate has enough more traffic. */
  #challenge(tenantId: string, candidate: Count): boolean {
    let quietest: string | undefined
    let floor = Number.POSITIVE_INFINITY
    for (const [id, count] of this.#labeled) {
      if (count.score < floor) {
        floor = count.score
        quietest = id
      }
    }
    this.#floor = floor
    if (quietest === undefined || candidate.score - candidate.inherited <= HYSTERESIS * floor) return false
    const demoted = this.#labeled.get(quietest)!
    this.#labeled.delete(quietest)
    // Back among the candidates, with its count, where it may win its label back.
    this.#candidates.set(quietest, demoted)
    this.#promote(tenantId, candidate)
    this.#onEvict?.(quietest)
    return true
  }

  #promote(tenantId: string, count: Count): void {
    this.#candidates.delete(tenantId)
    this.#labeled.set(tenantId, count)
  }
}
