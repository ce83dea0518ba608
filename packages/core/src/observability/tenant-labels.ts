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

/** A tenant's decayed traffic: `score` as of `at`, of which `inherited` came with its row (Space-Saving's overestimate). */
interface Count {
  score: number
  inherited: number
  at: number
}

/** How much more traffic a candidate needs than the quietest labeled tenant to take its label. */
const HYSTERESIS = 1.25
/** Candidates sampled for replacement when the table is full (as Redis samples keys to evict). */
const SAMPLE = 8

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
 * labeled tenants.
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
  /** The quietest labeled tenant's score when last looked at (a promotion looks again). */
  #floor = 0
  #floorAt = 0

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
  }

  /** Tenants with a label of their own now. */
  labeled(): string[] {
    return [...this.#labeled.keys()]
  }

  /**
   * Counts `weight` of traffic (default 1) for the tenant and returns the
   * label its metrics carry now: its id, or `'other'`.
   */
  label(tenantId: string, weight = 1): string {
    const now = this.#now()
    const own = this.#labeled.get(tenantId)
    if (own !== undefined) {
      this.#add(own, weight, now)
      return tenantId
    }
    let candidate = this.#candidates.get(tenantId)
    if (candidate === undefined) candidate = this.#admit(tenantId, now)
    this.#add(candidate, weight, now)
    if (this.#labeled.size < this.#k) {
      this.#promote(tenantId, candidate)
      return tenantId
    }
    // Cheap test against the last floor seen (decayed to now) before any scan.
    // Only traffic it was seen to send counts toward a label, not the count its row came with.
    if (candidate.score - candidate.inherited > HYSTERESIS * this.#decayed(this.#floor, this.#floorAt, now) && this.#challenge(tenantId, candidate, now)) return tenantId
    return TenantLabels.OTHER
  }

  #decayed(score: number, at: number, now: number): number {
    return now <= at ? score : score * 2 ** (-(now - at) / this.#halfLifeMs)
  }

  #add(count: Count, weight: number, now: number): void {
    count.score = this.#decayed(count.score, count.at, now) + weight
    count.inherited = this.#decayed(count.inherited, count.at, now)
    count.at = now
  }

  /** A new candidate: a free row, or the smallest of a sample's row, whose count it starts from (Space-Saving). */
  #admit(tenantId: string, now: number): Count {
    if (this.#candidates.size < this.#max) {
      const count = { score: 0, inherited: 0, at: now }
      this.#candidates.set(tenantId, count)
      return count
    }
    let victim: string | undefined
    let smallest = Number.POSITIVE_INFINITY
    let seen = 0
    for (const [id, count] of this.#candidates) {
      const score = this.#decayed(count.score, count.at, now)
      if (score < smallest) {
        smallest = score
        victim = id
      }
      if (++seen >= SAMPLE) break
    }
    if (victim !== undefined) this.#candidates.delete(victim)
    const start = smallest === Number.POSITIVE_INFINITY ? 0 : smallest
    const count = { score: start, inherited: start, at: now }
    this.#candidates.set(tenantId, count)
    return count
  }

  /** Takes the quietest labeled tenant's label when the candidate has enough more traffic. */
  #challenge(tenantId: string, candidate: Count, now: number): boolean {
    let quietest: string | undefined
    let floor = Number.POSITIVE_INFINITY
    for (const [id, count] of this.#labeled) {
      const score = this.#decayed(count.score, count.at, now)
      if (score < floor) {
        floor = score
        quietest = id
      }
    }
    this.#floor = floor
    this.#floorAt = now
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
