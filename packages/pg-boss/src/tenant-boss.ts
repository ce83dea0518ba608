/**
 * pg-boss with job tenancy: `send` records the tenant of the scope (and
 * refuses with none); `work` runs each job in its recorded tenant's scope,
 * re-read from the catalog, or not at all.
 */
import {
  SYSTEM_FAIRNESS_KEY, TenantryError, callSafely, currentTenant, isJobEnvelope,
  type FairnessOptions, type JobContext, type JobEnvelope, type JobTenancy, type TenantJobCounts, type TenantJobStats,
} from '@tenantry/core'
import type PgBoss from 'pg-boss'
import { quoteSchema, tenantCountsSql, type BossDb } from './boss-sql.ts'
import { BossFairness } from './fair-share.ts'

/**
 * Options of `TenantBoss`.
 *
 * @example
 * new TenantBoss(boss, jobs, { schema: 'pgboss', fairness: { weights: { pro: 4 }, concurrencyPerTenant: 2 } })
 */
export interface TenantBossOptions {
  /** pg-boss's schema (the `schema` given to `new PgBoss`). Default `pgboss`. */
  readonly schema?: string
  /**
   * Per-tenant fairness: each job's priority comes from its tenant's pending
   * jobs (a tenant's n-th gets −⌈n / weight⌉), so one tenant's flood does not
   * hold back another's first job; with `concurrencyPerTenant`, at most that
   * many of a tenant's jobs run at once over every worker. Kept in two tables
   * Tenantry adds to pg-boss's schema (created on first use).
   */
  readonly fairness?: FairnessOptions
}

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
   * and completed or failed on its own, all when the fetch's slowest job ends.
   * Default 1 (pg-boss then settles each job itself). pg-boss waits the
   * polling interval between fetches: this is the worker's throughput knob;
   * for handlers of very different lengths, run several workers of 1 instead.
   */
  readonly batchSize?: number
  /** Told of each job not run (parked or dropped), with why: for logs and metrics. */
  readonly onRefused?: (job: PgBoss.JobWithMetadata<unknown>, refusal: { readonly disposition: 'park' | 'drop'; readonly error: TenantryError }) => void
  /** With fairness: how often this worker sets the queue's pending counts to what its jobs say (they drift when a job expires into failed unseen). Default 60,000 ms; 0 never. */
  readonly reconcileIntervalMs?: number
}

/**
 * What a job that did not run completes with (its `output`): parked (a
 * suspended tenant's) or deferred (its tenant at its cap), sent again as
 * `parkedAs`; dropped jobs are cancelled with no output.
 */
export interface RefusedJobOutput {
  readonly tenantry: { readonly disposition: 'park' | 'drop' | 'defer'; readonly code: string; readonly message: string; readonly parkedAs?: string | null }
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
export class TenantBoss<T extends object = Record<string, unknown>> implements TenantJobStats {
  /** The pg-boss instance underneath (queues, maintenance, monitoring); send and work through this class. */
  readonly boss: PgBoss
  readonly #jobs: JobTenancy
  readonly #schema: string
  readonly #fairness: BossFairness | undefined
  /** The queues this instance's workers reconcile, one timer each. */
  readonly #reconciling = new Map<string, ReturnType<typeof setInterval>>()

  constructor(boss: PgBoss, jobs: JobTenancy, options: TenantBossOptions = {}) {
    if (typeof boss?.send !== 'function' || typeof boss.work !== 'function') throw invalid('boss', 'must be a PgBoss instance')
    if (typeof jobs?.envelope !== 'function') throw invalid('jobs', 'must be a JobTenancy (new JobTenancy({ tenants: tenantry.directory }))')
    this.boss = boss
    this.#jobs = jobs
    this.#schema = quoteSchema(options.schema ?? 'pgboss')
    this.#fairness = options.fairness === undefined ? undefined : new BossFairness(this.#db(), this.#schema, options.fairness)
  }

  /** pg-boss's own database handle (its pool): Tenantry's SQL runs where pg-boss's does. */
  #db(): BossDb {
    const boss = this.boss
    return { executeSql: (text, values) => (boss.getDb() as BossDb).executeSql(text, values) }
  }

  /** Sends one envelope, with its fair priority when fairness is on; the count is given back when nothing was sent. */
  async #send(name: string, envelope: JobEnvelope<T>, options: PgBoss.SendOptions, owner: string, plan: string | undefined): Promise<string | null> {
    const fairness = this.#fairness
    if (fairness === undefined) return this.boss.send(name, envelope, options)
    if (options.priority !== undefined) throw invalid('options.priority', "is set by fairness from the tenant's pending jobs: leave it out")
    const [priority] = await fairness.admit(name, owner, plan, 1)
    let id: string | null = null
    try {
      id = await this.boss.send(name, envelope, { ...options, priority: priority! })
      return id
    } finally {
      // Not sent (an error, or pg-boss's singleton or throttling said no): the job was never pending.
      if (id === null) await fairness.done(name, owner).catch(() => undefined)
    }
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
    const envelope = this.#jobs.envelope(data)
    const tenant = currentTenant()
    return this.#send(name, envelope, options, tenant.id, tenant.plan)
  }

  /**
   * Sends an explicit system job: it runs in `runAsSystem(reason)` (audited).
   * Refused inside a tenant scope (TENANT_MISMATCH).
   *
   * @example
   * await reports.sendSystem('nightly usage roll-up', 'reports', { reportId: 'all' })
   */
  async sendSystem(reason: string, name: string, data: T, options: PgBoss.SendOptions = {}): Promise<string | null> {
    return this.#send(name, this.#jobs.systemEnvelope(reason, data), options, SYSTEM_FAIRNESS_KEY, undefined)
  }

  /**
   * A tenant's jobs in each queue that has any: queued (created or waiting
   * to retry, parked ones included), running (active) and failed (kept until
   * pg-boss archives them). `queues` narrows it to those queues.
   *
   * @example
   * await reports.jobCounts(tenant.id)   // [{ queue: 'reports', queued: 12, running: 2, failed: 1 }]
   */
  async jobCounts(tenantId: string, queues?: readonly string[]): Promise<TenantJobCounts[]> {
    const { rows } = await this.#db().executeSql(tenantCountsSql(this.#schema), [tenantId, queues === undefined ? null : [...queues]])
    const byQueue = new Map<string, { queue: string; queued: number; running: number; failed: number }>()
    for (const row of rows as { name: string; state: string; n: number }[]) {
      const counts = byQueue.get(row.name) ?? { queue: row.name, queued: 0, running: 0, failed: 0 }
      if (row.state === 'active') counts.running += row.n
      else if (row.state === 'failed') counts.failed += row.n
      else counts.queued += row.n
      byQueue.set(row.name, counts)
    }
    return [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue))
  }

  /**
   * With fairness: the pending-job counts by tenant id (`system` for system
   * jobs) the priorities are computed from.
   *
   * @example
   * await reports.pending('reports')   // { '0b6c…': 10000, '5f1e…': 3 }
   */
  async pending(name: string): Promise<Record<string, number>> {
    return this.#fairnessOn('pending').pending(name)
  }

  /**
   * With fairness: sets a queue's pending counts to what its jobs say. The
   * workers do it every `reconcileIntervalMs`; call it after deleting jobs by hand.
   *
   * @example
   * await reports.reconcile('reports')
   */
  async reconcile(name: string): Promise<void> {
    await this.#fairnessOn('reconcile').reconcile(name)
  }

  #fairnessOn(method: string): BossFairness {
    if (this.#fairness === undefined) throw invalid('options.fairness', `must be set for ${method}(): this TenantBoss has no fairness`)
    return this.#fairness
  }

  /**
   * Works the queue: each job runs in the scope it was sent in, its tenant
   * re-read first. A suspended or provisioning tenant's job is parked: sent
   * again to start after `parkDelaySeconds` (with its priority and retry
   * settings), the original completing with
   * `{ tenantry: { disposition: 'park', parkedAs } }`. An offboarding,
   * deleted or unknown tenant's job, one not sent through Tenantry, or one
   * whose data names another tenant is dropped: cancelled, never run. The
   * handler's own errors fail the job as pg-boss does (its retries). With
   * fairness and a per-tenant cap, a job whose tenant is at its cap is
   * deferred the same way as a parked one (`disposition: 'defer'`), after
   * `retryDelayMs`.
   *
   * @example
   * await reports.work('reports', async (data, job) => buildReport(currentTenant(), data.reportId))
   */
  async work<R>(name: string, handler: TenantBossHandler<T, R>, options: TenantWorkOptions = {}): Promise<string> {
    if (typeof handler !== 'function') throw invalid('handler', 'must be a function')
    const park = options.parkDelaySeconds ?? 60
    if (!(Number.isSafeInteger(park) && park >= 1)) throw invalid('options.parkDelaySeconds', 'must be a whole number of seconds, at least 1')
    const batchSize = options.batchSize ?? 1
    if (!(Number.isSafeInteger(batchSize) && batchSize >= 1 && batchSize <= 1000)) throw invalid('options.batchSize', 'must be a whole number from 1 to 1,000')
    const reconcileEvery = options.reconcileIntervalMs ?? 60_000
    if (!(Number.isSafeInteger(reconcileEvery) && reconcileEvery >= 0)) throw invalid('options.reconcileIntervalMs', 'must be a whole number of milliseconds (0: never)')
    const jobs = this.#jobs
    const boss = this.boss
    const fairness = this.#fairness
    if (fairness !== undefined) await fairness.ready()
    const workOptions: PgBoss.WorkOptions & { includeMetadata: true } = {
      batchSize,
      includeMetadata: true,
      ...(options.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: options.pollingIntervalSeconds }),
    }
    /**
     * Sends the job again for later, with its priority, the retries it had
     * left, its expiry, singleton and dead-letter settings; the original
     * completes saying so.
     * When pg-boss sends nothing (a singleton of that key is queued already)
     * the original fails instead (pg-boss retries it): it is never completed unrun with no copy.
     */
    const sendAgain = async (job: PgBoss.JobWithMetadata<JobEnvelope<T>>, startAfter: Date, refused: Omit<RefusedJobOutput['tenantry'], 'parkedAs'>): Promise<Settled> => {
      const parkedAs = await boss.send(name, job.data as object, {
        startAfter,
        priority: job.priority,
        // The attempts it had left: a copy does not start its retries over.
        retryLimit: Math.max(0, job.retryLimit - job.retryCount),
        retryDelay: job.retryDelay,
        retryBackoff: job.retryBackoff,
        expireInSeconds: job.expireInSeconds,
        ...(job.singletonKey === null || job.singletonKey === undefined ? {} : { singletonKey: job.singletonKey }),
        ...(typeof job.deadLetter === 'string' && job.deadLetter !== '' ? { deadLetter: job.deadLetter } : {}),
      })
      if (parkedAs === null) throw new TenantryError('OVERLOADED', `${refused.code}: the job could not be sent again for later (pg-boss sent nothing: a job of its singleton key is queued); it fails, and pg-boss retries it`)
      return { complete: { tenantry: { ...refused, parkedAs } } satisfies RefusedJobOutput, ended: false }
    }
    const one = async (job: PgBoss.JobWithMetadata<JobEnvelope<T>>): Promise<Settled> => {
      const outcome = await jobs.run<T, R>(job.data, (data, context) => handler(data, job, context), { queue: name })
      if (outcome.ran) return { complete: outcome.result, ended: true }
      // A listener's failure (a throw, a rejected promise) does not change what happens to the job.
      if (options.onRefused !== undefined) callSafely(() => options.onRefused!(job, { disposition: outcome.disposition, error: outcome.error }))
      const refused = { disposition: outcome.disposition, code: outcome.error.code, message: outcome.error.message }
      if (outcome.disposition === 'park') return sendAgain(job, new Date(Date.now() + park * 1000), refused)
      await boss.cancel(name, job.id)
      return { complete: undefined, ended: true, cancelled: true }
    }
    /** With fairness: the cap, the lease while it runs, the count when it ends for good. */
    const fair = fairness === undefined ? one : async (job: PgBoss.JobWithMetadata<JobEnvelope<T>>): Promise<Settled> => {
      const owner = countedAs(job)
      if (owner === undefined) return one(job)
      const capped = owner !== SYSTEM_FAIRNESS_KEY && fairness.settings.cap !== undefined
      if (capped && !(await fairness.acquire(name, owner, job.id))) {
        return sendAgain(job, new Date(Date.now() + fairness.settings.retryDelayMs), {
          disposition: 'defer', code: 'OVERLOADED', message: `tenant ${owner} is at its cap of ${fairness.settings.cap} running jobs`,
        })
      }
      // Renewed while the handler runs, but no longer than pg-boss lets the job run: a handler
      // that hangs past its expiry (pg-boss has failed the job by then) gives its slot back.
      const expiresAt = Date.now() + job.expireInSeconds * 1000
      const renewal = capped ? setInterval(() => {
        if (Date.now() > expiresAt) return clearInterval(renewal)
        void fairness.renew(name, owner, job.id).catch(() => undefined)
      }, Math.floor(fairness.settings.leaseMs / 3)) : undefined
      renewal?.unref()
      let ended = true
      try {
        const settled = await one(job)
        ended = settled.ended
        return settled
      } catch (error) {
        ended = job.retryCount >= job.retryLimit
        throw error
      } finally {
        clearInterval(renewal)
        if (capped) await fairness.release(name, owner, job.id).catch(() => undefined)
        if (ended) await fairness.done(name, owner).catch(() => undefined)
      }
    }
    /** Settles one job of a fetch of several: completed with its output, cancelled already, or failed (pg-boss retries it). */
    const settle = async (job: PgBoss.JobWithMetadata<JobEnvelope<T>>, result: PromiseSettledResult<Settled>): Promise<void> => {
      if (result.status === 'rejected') return void (await boss.fail(name, job.id, serializable(result.reason)))
      if (result.value.cancelled === true) return
      await boss.complete(name, job.id, outputOf(result.value.complete))
    }
    const id = await boss.work<JobEnvelope<T>>(name, workOptions, async (batch) => {
      // One job a fetch: pg-boss settles it itself, from what this returns or throws.
      if (batch.length === 1) {
        const settled = await fair(batch[0]!)
        return settled.cancelled === true ? undefined : outputOf(settled.complete)
      }
      // Several: each is settled on its own, once every job of the fetch has run, so one job's failure
      // does not fail (or retry) the others, and a failed job is not retried elsewhere while its siblings run.
      const results = await Promise.allSettled(batch.map((job) => fair(job)))
      await Promise.allSettled(batch.map((job, i) => settle(job, results[i]!)))
    })
    if (fairness !== undefined && reconcileEvery > 0 && !this.#reconciling.has(name)) {
      const timer = setInterval(() => void fairness.reconcile(name).catch(() => undefined), reconcileEvery)
      timer.unref()
      this.#reconciling.set(name, timer)
      boss.once('stopped', () => {
        clearInterval(timer)
        this.#reconciling.delete(name)
      })
    }
    return id
  }
}

/** A job's output as pg-boss stores it: an object as it is, anything else as `{ value }`. */
function outputOf(output: unknown): object | undefined {
  return output === undefined || (typeof output === 'object' && output !== null) ? (output as object | undefined) : { value: output }
}

/** How a fetched job was settled: completed with this output (or cancelled), and whether it left the queue for good. */
interface Settled {
  readonly complete: unknown
  readonly ended: boolean
  readonly cancelled?: boolean
}

/** Whose fairness count a job is kept under: its tenant's id, `system`, or none (sent without fairness, or not Tenantry's). */
function countedAs(job: PgBoss.JobWithMetadata<unknown>): string | undefined {
  if (!(job.priority < 0) || !isJobEnvelope(job.data)) return undefined
  const record = job.data.tenantry
  return record.scope === 'tenant' ? record.tenantId : SYSTEM_FAIRNESS_KEY
}

/** An error as pg-boss stores it (its output): name, message, code when it has one. */
function serializable(error: unknown): object {
  if (error instanceof Error) return { name: error.name, message: error.message, ...('code' in error ? { code: (error as { code: unknown }).code } : {}) }
  return { message: String(error) }
}
