/**
 * pg-boss with job tenancy: `send` records the tenant of the scope (and
 * refuses with none); `work` runs each job in its recorded tenant's scope,
 * re-read from the catalog, or not at all.
 */
import { TenantryError, callSafely, type JobContext, type JobEnvelope, type JobTenancy } from '@tenantry/core'
import type PgBoss from 'pg-boss'

/** A tenant job's handler: the payload, the pg-boss job (with its metadata), and its scope (also in `currentTenant()`). */
export type TenantBossHandler<T, R> = (data: T, job: PgBoss.JobWithMetadata<JobEnvelope<T>>, context: JobContext) => R | Promise<R>

/**
 * Options of `TenantBoss.work`.
 *
 * @example
 * await reports.work('build', handler, { parkDelaySeconds: 300, pollingIntervalSeconds: 1 })
 */
export interface TenantWorkOptions {
  /** How long a suspended (or provisioning) tenant's job waits before it is looked at again. Default 60 s. */
  readonly parkDelaySeconds?: number
  /** pg-boss's polling interval (seconds, at least 0.5). Default pg-boss's (2). */
  readonly pollingIntervalSeconds?: number
  /**
   * Jobs fetched per poll, run side by side, each in its own tenant's scope
   * and completed or failed on its own. Default 1. (pg-boss waits the polling
   * interval between fetches: this is the worker's throughput knob.)
   */
  readonly batchSize?: number
  /** Told of each job not run (parked or dropped), with why: for logs and metrics. */
  readonly onRefused?: (job: PgBoss.JobWithMetadata<unknown>, refusal: { readonly disposition: 'park' | 'drop'; readonly error: TenantryError }) => void
}

/** What a parked or dropped job completes with (its `output`). */
export interface RefusedJobOutput {
  readonly tenantry: { readonly disposition: 'park' | 'drop'; readonly code: string; readonly message: string; readonly parkedAs?: string | null }
}

function invalid(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/**
 * A pg-boss instance whose jobs carry their tenant.
 *
 * @example
 * const boss = new PgBoss(process.env.DATABASE_URL!)
 * await boss.start()
 * await boss.createQueue('reports')
 * const reports = new TenantBoss<{ reportId: string }>(boss, new JobTenancy({ tenants: tenantry.directory }))
 * await reports.send('reports', { reportId })                 // in a tenant request
 * await reports.work('reports', async (data) => build(currentTenant(), data.reportId))
 */
export class TenantBoss<T extends object = Record<string, unknown>> {
  /** The pg-boss instance underneath (queues, maintenance, monitoring); send and work through this class. */
  readonly boss: PgBoss
  readonly #jobs: JobTenancy

  constructor(boss: PgBoss, jobs: JobTenancy) {
    if (typeof boss?.send !== 'function' || typeof boss.work !== 'function') throw invalid('boss', 'must be a PgBoss instance')
    if (typeof jobs?.envelope !== 'function') throw invalid('jobs', 'must be a JobTenancy (new JobTenancy({ tenants: tenantry.directory }))')
    this.boss = boss
    this.#jobs = jobs
  }

  /**
   * Sends a job for the tenant in scope. Throws TENANT_CONTEXT_MISSING with
   * no tenant in scope, TENANT_MISMATCH when the data names another tenant:
   * nothing is written then.
   *
   * @example
   * await runWithTenant(acme, () => reports.send('reports', { reportId: 'r1' }, { retryLimit: 3 }))
   */
  async send(name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string | null> {
    return this.boss.send(name, this.#jobs.envelope(data), options)
  }

  /**
   * Sends an explicit system job: it runs in `runAsSystem(reason)` (audited).
   * Refused inside a tenant scope (TENANT_MISMATCH).
   *
   * @example
   * await reports.sendSystem('nightly usage roll-up', 'reports', { reportId: 'all' })
   */
  async sendSystem(reason: string, name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string | null> {
    return this.boss.send(name, this.#jobs.systemEnvelope(reason, data), options)
  }

  /**
   * Works the queue, one job at a time per fetch: each job runs in the scope
   * it was sent in, its tenant re-read first. A suspended or provisioning
   * tenant's job is parked: sent again to start after `parkDelaySeconds`
   * (with its priority and retry settings), the original completing with
   * `{ tenantry: { disposition: 'park', parkedAs } }`. An offboarding,
   * deleted or unknown tenant's job, one not sent through Tenantry, or one
   * whose data names another tenant is dropped: cancelled, never run. The
   * handler's own errors fail the job as pg-boss does (its retries).
   *
   * @example
   * await reports.work('reports', async (data, job) => buildReport(currentTenant(), data.reportId))
   */
  async work<R>(name: string, handler: TenantBossHandler<T, R>, options: TenantWorkOptions = {}): Promise<string> {
    if (typeof handler !== 'function') throw invalid('handler', 'must be a function')
    const park = options.parkDelaySeconds ?? 60
    if (!(Number.isSafeInteger(park) && park >= 1)) throw invalid('options.parkDelaySeconds', 'must be a whole number of seconds, at least 1')
    const jobs = this.#jobs
    const boss = this.boss
    const batchSize = options.batchSize ?? 1
    if (!(Number.isSafeInteger(batchSize) && batchSize >= 1 && batchSize <= 1000)) throw invalid('options.batchSize', 'must be a whole number from 1 to 1,000')
    const workOptions: PgBoss.WorkOptions & { includeMetadata: true } = {
      batchSize,
      includeMetadata: true,
      ...(options.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: options.pollingIntervalSeconds }),
    }
    const one = async (job: PgBoss.JobWithMetadata<JobEnvelope<T>>): Promise<unknown> => {
      const outcome = await jobs.run<T, R>(job.data, (data, context) => handler(data, job, context), { queue: name })
      if (outcome.ran) return outcome.result
      // A listener's failure (a throw, a rejected promise) does not change what happens to the job.
      if (options.onRefused !== undefined) callSafely(() => options.onRefused!(job, { disposition: outcome.disposition, error: outcome.error }))
      const refused = { disposition: outcome.disposition, code: outcome.error.code, message: outcome.error.message }
      if (outcome.disposition === 'park') {
        const parkedAs = await boss.send(name, job.data as object, {
          startAfter: park,
          priority: job.priority,
          retryLimit: job.retryLimit,
          retryDelay: job.retryDelay,
          retryBackoff: job.retryBackoff,
          expireInSeconds: job.expireInSeconds,
        })
        return { tenantry: { ...refused, parkedAs } } satisfies RefusedJobOutput
      }
      await boss.cancel(name, job.id)
      return { tenantry: refused } satisfies RefusedJobOutput
    }
    return boss.work<JobEnvelope<T>>(name, workOptions, async (batch) => {
      // Each job is settled on its own: one job's failure does not fail (or retry) the others of the fetch.
      await Promise.all(batch.map(async (job) => {
        let output: unknown
        try {
          output = await one(job)
        } catch (error) {
          await boss.fail(name, job.id, serializable(error))
          return
        }
        // A dropped job is cancelled already; completing only touches active jobs.
        await boss.complete(name, job.id, output === undefined || (typeof output === 'object' && output !== null) ? (output as object | undefined) : { value: output })
      }))
    })
  }
}

/** An error as pg-boss stores it (its output): name, message, code when it has one. */
function serializable(error: unknown): object {
  if (error instanceof Error) return { name: error.name, message: error.message, ...('code' in error ? { code: (error as { code: unknown }).code } : {}) }
  return { message: String(error) }
}
