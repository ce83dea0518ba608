/**
 * BullMQ with job tenancy: a queue whose `add` records the tenant of the
 * scope (and refuses with none), and a processor that runs each job in its
 * recorded tenant's scope, re-read from the catalog, or not at all.
 */
import { TenantryError, type JobContext, type JobEnvelope, type JobTenancy } from '@tenantry/core'
import { DelayedError, UnrecoverableError, type Job, type JobsOptions, type Processor, type Queue } from 'bullmq'

/**
 * A BullMQ queue of tenant jobs: every job added carries its tenant.
 *
 * @example
 * const reports = new TenantQueue<{ reportId: string }>(new Queue('reports', { connection }), jobs)
 * app.post('/api/reports', async () => reports.add('build', { reportId }))   // in a tenant request
 */
export class TenantQueue<T = unknown> {
  /** The BullMQ queue underneath (its counts, events, cleaning); add jobs through this class. */
  readonly queue: Queue
  readonly #jobs: JobTenancy

  constructor(queue: Queue, jobs: JobTenancy) {
    if (typeof queue?.add !== 'function') throw invalid('TenantQueue needs a BullMQ Queue', 'queue')
    if (typeof jobs?.envelope !== 'function') throw invalid('TenantQueue needs a JobTenancy (new JobTenancy({ tenants: tenantry.catalog }))', 'jobs')
    this.queue = queue
    this.#jobs = jobs
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
    return this.queue.add(name, this.#jobs.envelope(data), options) as Promise<Job<JobEnvelope<T>>>
  }

  /**
   * Adds several jobs for the tenant in scope, all or none: every job is
   * checked before any is added.
   *
   * @example
   * await reports.addBulk([{ name: 'build', data: { reportId: 'r1' } }, { name: 'build', data: { reportId: 'r2' } }])
   */
  async addBulk(jobs: readonly { readonly name: string; readonly data: T; readonly opts?: JobsOptions }[]): Promise<Job<JobEnvelope<T>>[]> {
    const wrapped = jobs.map((job) => ({ name: job.name, data: this.#jobs.envelope(job.data), ...(job.opts === undefined ? {} : { opts: job.opts }) }))
    return this.queue.addBulk(wrapped) as Promise<Job<JobEnvelope<T>>[]>
  }

  /**
   * Adds an explicit system job: it runs in `runAsSystem(reason)` (audited).
   * Refused inside a tenant scope (TENANT_MISMATCH).
   *
   * @example
   * await reports.addSystem('nightly usage roll-up', 'roll-up', { day: '2026-12-05' })
   */
  async addSystem(reason: string, name: string, data: T, options?: JobsOptions): Promise<Job<JobEnvelope<T>>> {
    return this.queue.add(name, this.#jobs.systemEnvelope(reason, data), options) as Promise<Job<JobEnvelope<T>>>
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
  if (typeof jobs?.run !== 'function') throw invalid('tenantProcessor needs a JobTenancy (new JobTenancy({ tenants: tenantry.catalog }))', 'jobs')
  if (typeof handler !== 'function') throw invalid('tenantProcessor needs a handler function', 'handler')
  const parkDelayMs = options.parkDelayMs ?? 60_000
  if (!Number.isSafeInteger(parkDelayMs) || parkDelayMs < 0) throw invalid('parkDelayMs must be a whole number of milliseconds', 'options.parkDelayMs')
  return async (job: Job<JobEnvelope<T>>, token?: string): Promise<R | undefined> => {
    const outcome = await jobs.run<T, R>(job.data, (data, context) => handler(data, job, context))
    if (outcome.ran) return outcome.result
    try {
      options.onRefused?.(job, { disposition: outcome.disposition, error: outcome.error })
    } catch {
      // A listener's failure does not change what happens to the job.
    }
    if (outcome.disposition === 'park') {
      await job.moveToDelayed(Date.now() + parkDelayMs, token)
      throw new DelayedError(`${outcome.error.code}: ${outcome.error.message}`)
    }
    throw new UnrecoverableError(`${outcome.error.code}: ${outcome.error.message}`)
  }
}

function invalid(message: string, path: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', message, { details: [{ path, message }] })
}
