/**
 * BullMQ with job tenancy: a queue whose `add` records the tenant of the
 * scope (and refuses with none), and a processor that runs each job in its
 * recorded tenant's scope, re-read from the catalog, or not at all.
 */
import { randomUUID } from 'node:crypto'
import {
  SYSTEM_FAIRNESS_KEY, TenantryError, callSafely, currentTenant, isJobEnvelope,
  type JobContext, type JobEnvelope, type JobTenancy, type TenantJobCounts, type TenantJobStats,
} from '@tenantry/core'
import { DelayedError, UnrecoverableError, WaitingChildrenError, type Job, type JobsOptions, type Processor, type Queue } from 'bullmq'
import type { FairShare } from './fair-share.ts'

/** The fairness count a system job is kept under (system work shares the workers with tenants, it does not jump them). */
const SYSTEM = SYSTEM_FAIRNESS_KEY

/**
 * Options of `TenantQueue`.
 *
 * @example
 * new TenantQueue(queue, jobs, { fairness })
 */
export interface TenantQueueOptions {
  /** Per-tenant fairness (`FairShare`): each job's priority comes from its tenant's pending count. */
  readonly fairness?: FairShare
}

/**
 * A BullMQ queue of tenant jobs: every job added carries its tenant.
 *
 * @example
 * const reports = new TenantQueue<{ reportId: string }>(new Queue('reports', { connection }), jobs)
 * app.post('/api/reports', async () => reports.add('build', { reportId }))   // in a tenant request
 */
export class TenantQueue<T = unknown> implements TenantJobStats {
  /** The BullMQ queue underneath (its counts, events, cleaning); add jobs through this class. */
  readonly queue: Queue
  readonly #jobs: JobTenancy
  readonly #fairness: FairShare | undefined

  constructor(queue: Queue, jobs: JobTenancy, options: TenantQueueOptions = {}) {
    if (typeof queue?.add !== 'function') throw invalid('TenantQueue needs a BullMQ Queue', 'queue')
    if (typeof jobs?.envelope !== 'function') throw invalid('TenantQueue needs a JobTenancy (new JobTenancy({ tenants: tenantry.directory }))', 'jobs')
    this.queue = queue
    this.#jobs = jobs
    this.#fairness = options.fairness
  }

  /** Adds envelopes, with fair priorities when fairness is on; the counts are given back if the add fails. */
  async #add(given: readonly { readonly name: string; readonly data: JobEnvelope<T>; readonly opts?: JobsOptions | undefined }[], countAs: string | undefined): Promise<Job<JobEnvelope<T>>[]> {
    // Every job id is its owner's: the tenant id (or `system`), a dot, then the caller's id or a random one. So one
    // tenant can neither read nor suppress (a duplicate add is a no-op in BullMQ) another tenant's job by guessing its
    // id, and a tenant's jobs are counted from the queue's id lists alone (jobCounts).
    const owner = countAs === SYSTEM ? SYSTEM : currentTenant().id
    const jobs = given.map((j) => ({ ...j, opts: ownIds(j.opts, owner) }))
    const fairness = this.#fairness
    if (fairness === undefined) return (await this.queue.addBulk(jobs.map((j) => ({ name: j.name, data: j.data, ...(j.opts === undefined ? {} : { opts: j.opts }) })))) as Job<JobEnvelope<T>>[]
    for (const [i, job] of jobs.entries()) {
      if (job.opts?.deduplication !== undefined) throw invalid('With fairness on, deduplicated adds are refused: a deduplicated job would be counted but never added', `jobs.${i}.opts.deduplication`)
      if (job.opts?.priority !== undefined) throw invalid('With fairness on, the priority of a job comes from its tenant\'s pending jobs: leave opts.priority out', `jobs.${i}.opts.priority`)
    }
    const queue = this.queue.qualifiedName
    const tenant = countAs === SYSTEM ? { id: SYSTEM } : currentTenant()
    const priorities = await fairness.admit(queue, tenant, jobs.length)
    try {
      return (await this.queue.addBulk(jobs.map((j, i) => ({ name: j.name, data: j.data, opts: { ...j.opts, priority: priorities[i]! } })))) as Job<JobEnvelope<T>>[]
    } catch (error) {
      await fairness.done(queue, tenant.id, jobs.length).catch(() => undefined)
      throw error
    }
  }

  /**
   * Adds a job for the tenant in scope. Throws TENANT_CONTEXT_MISSING with no
   * tenant in scope, TENANT_MISMATCH when the data names another tenant:
   * nothing is added then.
   *
   * @example
   * await runWithTenant(acme, () => reports.add('build', { reportId: 'r1' }, { attempts: 3 }))
   */
  async add(name: string, data: T, options?: JobsOptions): Promise<Job<JobEnvelope<T>>> {
    const envelope = this.#jobs.envelope(data)
    return (await this.#add([{ name, data: envelope, opts: options }], undefined))[0]!
  }

  /**
   * A job of the tenant in scope by its id, or undefined when there is none
   * or it is another tenant's (TENANT_CONTEXT_MISSING with no tenant in scope).
   *
   * @example
   * app.get('/api/jobs/:id', async (req) => (await reports.getJob(req.params.id)) ?? reply.code(404).send())
   */
  async getJob(id: string): Promise<Job<JobEnvelope<T>> | undefined> {
    const tenant = currentTenant()
    const job = (await this.queue.getJob(id)) as Job<JobEnvelope<T>> | undefined
    if (job === undefined || !isJobEnvelope(job.data)) return undefined
    const record = job.data.tenantry
    return record.scope === 'tenant' && record.tenantId === tenant.id ? job : undefined
  }

  /**
   * A tenant's jobs in this queue: queued (waiting, prioritized, delayed,
   * parked or waiting for children), running (active), failed (kept until
   * removed). Counted from the queue's id lists in one Redis script, no job
   * read: every id TenantQueue adds starts with its tenant's id.
   *
   * @example
   * await reports.jobCounts(tenant.id)   // [{ queue: 'reports', queued: 12, running: 2, failed: 1 }]
   */
  async jobCounts(tenantId: string): Promise<TenantJobCounts[]> {
    const k = this.queue.keys
    const client = await this.queue.getBackend().client
    if (!defined.has(client)) {
      client.defineCommand(COUNT_COMMAND, { numberOfKeys: 7, lua: COUNT_OWNED, readOnly: true })
      defined.add(client)
    }
    const keys = [k.wait, k.paused, k.prioritized, k.delayed, k['waiting-children'], k.active, k.failed]
    const [queued, running, failed] = (await client.runCommand(COUNT_COMMAND, [...keys, `${tenantId}.`])) as number[]
    return [{ queue: this.queue.name, queued: queued ?? 0, running: running ?? 0, failed: failed ?? 0 }]
  }

  /**
   * Adds several jobs for the tenant in scope, all or none: every job is
   * checked before any is added.
   *
   * @example
   * await reports.addBulk([{ name: 'build', data: { reportId: 'r1' } }, { name: 'build', data: { reportId: 'r2' } }])
   */
  async addBulk(jobs: readonly { readonly name: string; readonly data: T; readonly opts?: JobsOptions }[]): Promise<Job<JobEnvelope<T>>[]> {
    const wrapped = jobs.map((job) => ({ name: job.name, data: this.#jobs.envelope(job.data), opts: job.opts }))
    return this.#add(wrapped, undefined)
  }

  /**
   * Adds an explicit system job: it runs in `runAsSystem(reason)` (audited).
   * Refused inside a tenant scope (TENANT_MISMATCH).
   *
   * @example
   * await reports.addSystem('nightly usage roll-up', 'roll-up', { day: '2026-12-05' })
   */
  async addSystem(reason: string, name: string, data: T, options?: JobsOptions): Promise<Job<JobEnvelope<T>>> {
    return (await this.#add([{ name, data: this.#jobs.systemEnvelope(reason, data), opts: options }], SYSTEM))[0]!
  }
}

/** A tenant job's handler: the payload, the BullMQ job, and its scope (also in `currentTenant()`). */
export type TenantJobHandler<T, R> = (data: T, job: Job<JobEnvelope<T>>, context: JobContext) => R | Promise<R>

/**
 * Options of `tenantProcessor`.
 *
 * @example
 * tenantProcessor(jobs, handler, { parkDelayMs: 300_000 })
 */
export interface TenantProcessorOptions {
  /** How long a suspended (or provisioning) tenant's job waits before it is looked at again. Default 60,000 ms. */
  readonly parkDelayMs?: number
  /** Told of each job not run (parked or dropped), with why: for logs and metrics. */
  readonly onRefused?: (job: Job, refusal: { readonly disposition: 'park' | 'drop'; readonly error: TenantryError }) => void
  /** The same `FairShare` as the queue's: counts each job done, and holds each tenant to its cap. */
  readonly fairness?: FairShare
}

/** The job options with a caller's `jobId` and deduplication id prefixed by their owner. */
function ownIds(options: JobsOptions | undefined, owner: string): JobsOptions {
  let owned: JobsOptions = { ...options, jobId: `${owner}.${options?.jobId ?? randomUUID()}` }
  if (options?.deduplication !== undefined) owned = { ...owned, deduplication: { ...options.deduplication, id: `${owner}.${options.deduplication.id}` } }
  return owned
}

// Counts the ids that start with ARGV[1] in the queue's lists (wait, paused, active) and sorted sets
// (prioritized, delayed, waiting-children, failed): ids only, no job is read.
const COUNT_OWNED = `
local owner = ARGV[1]
local n = #owner
local function owned(ids)
  local c = 0
  for _, id in ipairs(ids) do if string.sub(id, 1, n) == owner then c = c + 1 end end
  return c
end
local queued = owned(redis.call('LRANGE', KEYS[1], 0, -1)) + owned(redis.call('LRANGE', KEYS[2], 0, -1))
  + owned(redis.call('ZRANGE', KEYS[3], 0, -1)) + owned(redis.call('ZRANGE', KEYS[4], 0, -1)) + owned(redis.call('ZRANGE', KEYS[5], 0, -1))
return { queued, owned(redis.call('LRANGE', KEYS[6], 0, -1)), owned(redis.call('ZRANGE', KEYS[7], 0, -1)) }`
const COUNT_COMMAND = 'tenantryCountOwned'
/** The Redis clients the count script is defined on. */
const defined = new WeakSet<object>()

/** Whose count a job is kept under: its tenant's id, `system`, or none (added without fairness, or not Tenantry's). */
function countedAs(job: Job): string | undefined {
  if (!((job.opts.priority ?? 0) > 0) || !isJobEnvelope(job.data)) return undefined
  const record = job.data.tenantry
  return record.scope === 'tenant' ? record.tenantId : SYSTEM
}

/** True when a failed attempt is the job's last (BullMQ will not run it again). */
function lastAttempt(job: Job, error: unknown): boolean {
  if (error instanceof DelayedError || error instanceof WaitingChildrenError) return false
  return error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
}

/**
 * The processor for `new Worker(name, processor)`: each job runs in the scope
 * it was enqueued in. Its tenant is re-read from the catalog first; the job
 * of a suspended or provisioning tenant is parked (moved back to delayed,
 * no attempt spent), that of an offboarding, deleted or unknown tenant, a job
 * not added through Tenantry, or one whose data names another tenant, is
 * failed with no retry (`UnrecoverableError`, its message starting with the
 * code). The handler's own errors go to BullMQ as they are (its retries).
 *
 * @example
 * const worker = new Worker('reports', tenantProcessor(jobs, async (data, job) => {
 *   const tenant = currentTenant()       // the tenant that enqueued it
 *   return buildReport(tenant, data.reportId)
 * }), { connection })
 */
export function tenantProcessor<T = unknown, R = unknown>(jobs: JobTenancy, handler: TenantJobHandler<T, R>, options: TenantProcessorOptions = {}): Processor<JobEnvelope<T>, R | undefined> {
  if (typeof jobs?.run !== 'function') throw invalid('tenantProcessor needs a JobTenancy (new JobTenancy({ tenants: tenantry.directory }))', 'jobs')
  if (typeof handler !== 'function') throw invalid('tenantProcessor needs a handler function', 'handler')
  const parkDelayMs = options.parkDelayMs ?? 60_000
  if (!Number.isSafeInteger(parkDelayMs) || parkDelayMs < 0) throw invalid('parkDelayMs must be a whole number of milliseconds', 'options.parkDelayMs')
  const fairness = options.fairness
  const run = async (job: Job<JobEnvelope<T>>, token: string | undefined): Promise<R | undefined> => {
    const outcome = await jobs.run<T, R>(job.data, (data, context) => handler(data, job, context), { queue: job.queueName })
    if (outcome.ran) return outcome.result
    // A listener's failure (a throw, a rejected promise) does not change what happens to the job.
    if (options.onRefused !== undefined) callSafely(() => options.onRefused!(job, { disposition: outcome.disposition, error: outcome.error }))
    if (outcome.disposition === 'park') {
      await job.moveToDelayed(Date.now() + parkDelayMs, token)
      throw new DelayedError(`${outcome.error.code}: ${outcome.error.message}`)
    }
    throw new UnrecoverableError(`${outcome.error.code}: ${outcome.error.message}`)
  }
  if (fairness === undefined) return (job, token) => run(job, token)
  return async (job: Job<JobEnvelope<T>>, token?: string): Promise<R | undefined> => {
    const tenant = countedAs(job)
    if (tenant === undefined) return run(job, token)
    const queue = job.queueQualifiedName
    const jobId = job.id ?? ''
    const capped = tenant !== SYSTEM && fairness.cap !== undefined
    if (capped && !(await fairness.acquire(queue, tenant, jobId))) {
      // Over its tenant's cap: back to delayed (no attempt spent), with its priority.
      await job.moveToDelayed(Date.now() + fairness.retryDelayMs, token)
      throw new DelayedError(`tenant ${tenant} is at its cap of ${fairness.cap} running jobs`)
    }
    const renewal = capped ? setInterval(() => void fairness.renew(queue, tenant, jobId).catch(() => undefined), Math.floor(fairness.leaseMs / 3)) : undefined
    renewal?.unref()
    let finished = true
    try {
      return await run(job, token)
    } catch (error) {
      finished = lastAttempt(job, error)
      throw error
    } finally {
      clearInterval(renewal)
      if (capped) await fairness.release(queue, tenant, jobId).catch(() => undefined)
      if (finished) await fairness.done(queue, tenant).catch(() => undefined)
    }
  }
}

function invalid(message: string, path: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', message, { details: [{ path, message }] })
}
