/**
 * Per-tenant fairness for a BullMQ queue, across any number of worker
 * processes, with BullMQ's own priorities: a tenant's n-th pending job gets
 * priority ⌈n / weight⌉, so the workers take the tenants' jobs in turn
 * (weighted round-robin) instead of in arrival order; one tenant's 10,000
 * queued jobs hold back another tenant's first job by about one job per
 * busy tenant. Optionally a cap on each tenant's jobs running at once (all
 * workers together). The counts live in Redis next to the queue's keys.
 */
import { TenantryError, fairRanks, fairnessSettings, weightOf, type FairnessOptions, type FairnessSettings, type ScopedTenant } from '@tenantry/core'

/** BullMQ's lowest priority (highest number). */
export const MAX_PRIORITY = 2_097_151

/** The Redis commands fairness uses (an ioredis client or cluster fits). */
export interface FairShareRedis {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  hgetall(key: string): Promise<Record<string, string>>
}

/**
 * Options of `FairShare`: the shared fairness options (weights by plan, a
 * per-tenant cap and its lease) and the Redis connection the counts live on.
 *
 * @example
 * new FairShare({ redis, weights: { free: 1, pro: 4 }, concurrencyPerTenant: 2 })
 */
export interface FairShareOptions extends FairnessOptions {
  /** A Redis connection of its own (an ioredis client or cluster) to the queue's Redis. */
  readonly redis: FairShareRedis
}

const PENDING = 'tenantry:pending'
const ACTIVE = 'tenantry:active:'

const DECREMENT = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`

// Slots are a sorted set of job ids scored by lease expiry (server time): expired ones are let go first.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0`

const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])`

const RELEASE = `return redis.call('ZREM', KEYS[1], ARGV[1])`

function invalid(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/**
 * Fairness across tenants for one or more BullMQ queues: give it to
 * `TenantQueue` (priorities at enqueue) and to `tenantProcessor` (counts
 * and the per-tenant cap in the workers).
 *
 * @example
 * const fairness = new FairShare({ redis: new Redis(url), weights: { pro: 4 }, concurrencyPerTenant: 2 })
 * const reports = new TenantQueue(new Queue('reports', { connection }), jobs, { fairness })
 * new Worker('reports', tenantProcessor(jobs, handler, { fairness }), { connection, concurrency: 8 })
 */
export class FairShare {
  readonly #redis: FairShareRedis
  readonly #settings: FairnessSettings
  readonly cap: number | undefined
  readonly leaseMs: number
  readonly retryDelayMs: number

  constructor(options: FairShareOptions) {
    if (typeof options?.redis?.eval !== 'function') throw invalid('options.redis', 'must be an ioredis client or cluster')
    this.#settings = fairnessSettings(options)
    this.#redis = options.redis
    this.cap = this.#settings.cap
    this.leaseMs = this.#settings.leaseMs
    this.retryDelayMs = this.#settings.retryDelayMs
  }

  /** A tenant's weight (its plan's, else 1). */
  weightOf(tenant: Pick<ScopedTenant, 'plan'>): number {
    return weightOf(this.#settings, tenant)
  }

  /**
   * Counts `count` new pending jobs of the tenant in the queue and returns
   * their priorities, in order.
   */
  async admit(queue: string, tenant: Pick<ScopedTenant, 'id' | 'plan'>, count: number): Promise<number[]> {
    const last = Number(await this.#redis.eval(`return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])`, 1, `${queue}:${PENDING}`, tenant.id, count))
    return fairRanks(last, count, this.weightOf(tenant)).map((rank) => Math.min(MAX_PRIORITY, rank))
  }

  /** One pending job of the tenant is done (completed, failed for good, dropped) or was never added. */
  async done(queue: string, tenantId: string, count = 1): Promise<void> {
    for (let i = 0; i < count; i++) await this.#redis.eval(DECREMENT, 1, `${queue}:${PENDING}`, tenantId)
  }

  /**
   * Takes one of the tenant's running slots for the job (true), or says it is
   * over its cap (false). Always true without a cap.
   */
  async acquire(queue: string, tenantId: string, jobId: string): Promise<boolean> {
    if (this.cap === undefined) return true
    return Number(await this.#redis.eval(ACQUIRE, 1, `${queue}:${ACTIVE}${tenantId}`, this.cap, this.leaseMs, jobId)) === 1
  }

  /** Extends the job's hold on its slot. */
  async renew(queue: string, tenantId: string, jobId: string): Promise<void> {
    if (this.cap === undefined) return
    await this.#redis.eval(RENEW, 1, `${queue}:${ACTIVE}${tenantId}`, this.leaseMs, jobId)
  }

  /** Gives the job's slot back. */
  async release(queue: string, tenantId: string, jobId: string): Promise<void> {
    if (this.cap === undefined) return
    await this.#redis.eval(RELEASE, 1, `${queue}:${ACTIVE}${tenantId}`, jobId)
  }

  /**
   * The pending-job counts by tenant id of a queue (its qualified name,
   * `queue.qualifiedName`): what the priorities are computed from.
   *
   * @example
   * const counts = await fairness.pending(reports.queue.qualifiedName)
   */
  async pending(queue: string): Promise<Record<string, number>> {
    const raw = await this.#redis.hgetall(`${queue}:${PENDING}`)
    return Object.fromEntries(Object.entries(raw).map(([id, n]) => [id, Number(n)]))
  }
}
