/**
 * The SaaS's background work: a tenant asks for a usage report
 * (`POST /api/reports`), a BullMQ worker builds it in that tenant's scope
 * (`GET /api/reports/:id` reads it back). Runs with Redis (REDIS_URL); the
 * embedded default has no queue. Fair between tenants (per-plan weights, a
 * per-tenant cap), counted by tenant for the console, metered by
 * `tenantry_jobs_total`.
 */
import { JobTenancy, type JobObserver, type JobTenantSource, type TenantJobCounts, type TenantJobStats } from '@tenantry/core'
import { FairShare, TenantQueue, tenantProcessor } from '@tenantry/bullmq'
import { Queue, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Projects } from '../data/projects.ts'

/** A built report: the tenant's counts when the worker ran. */
export interface Report {
  readonly projects: number
  readonly tasks: number
  readonly generated_at: string
}

/** A report job as the tenant API shows it. */
export interface ReportStatus {
  readonly id: string
  readonly status: 'queued' | 'running' | 'done' | 'failed'
  readonly result: Report | null
}

export interface SaasJobsOptions {
  readonly redisUrl: string
  /** Where the worker re-reads each job's tenant (`tenantry.directory`). */
  readonly tenants: JobTenantSource
  /** The data layer the report is built from, in the job's tenant scope. */
  readonly projects: Pick<Projects, 'stats'>
  /** Key prefix of the queue (tests use their own). Default `tenantry-saas`. */
  readonly prefix?: string
  /** Job metrics (`TenantMetrics.jobObserver()`). */
  readonly observer?: JobObserver
  /** Worker slots in this process. Default 4. */
  readonly concurrency?: number
  /** Told of the worker's connection errors (BullMQ retries them). */
  readonly onError?: (error: Error) => void
}

/** The report queue and its in-process worker. */
export interface SaasJobs extends TenantJobStats {
  /** Queues a report for the tenant in scope. */
  requestReport(): Promise<ReportStatus>
  /** The tenant in scope's report, or undefined (none, or another tenant's). */
  report(id: string): Promise<ReportStatus | undefined>
  close(): Promise<void>
}

const QUEUE = 'reports'

/** Weights by plan: a pro tenant's reports are taken four for one of a free tenant's. */
const WEIGHTS = { free: 1, pro: 4, enterprise: 8 }

async function statusOf(job: Job): Promise<ReportStatus['status']> {
  const state = await job.getState()
  if (state === 'active') return 'running'
  if (state === 'completed') return 'done'
  if (state === 'failed') return 'failed'
  return 'queued'
}

/**
 * Starts the report queue and a worker on it.
 *
 * @example
 * const jobs = startSaasJobs({ redisUrl, tenants: tenantry.directory, projects })
 * await runWithTenant(acme, () => jobs.requestReport())   // { id, status: 'queued', result: null }
 */
export function startSaasJobs(options: SaasJobsOptions): SaasJobs {
  const connection = connectionOf(options.redisUrl)
  const prefix = options.prefix ?? 'tenantry-saas'
  const jobs = new JobTenancy({ tenants: options.tenants, ...(options.observer === undefined ? {} : { observer: options.observer }) })
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 3 })
  const fairness = new FairShare({ redis, weights: WEIGHTS, concurrencyPerTenant: 2 })
  const raw = new Queue(QUEUE, { connection, prefix })
  const queue = new TenantQueue<Record<string, never>>(raw, jobs, { fairness })
  let worker: Worker
  try {
    worker = new Worker(QUEUE, tenantProcessor<Record<string, never>, Report>(jobs, async () => {
      const stats = await options.projects.stats()
      return { projects: stats.projects, tasks: stats.tasks, generated_at: new Date().toISOString() }
    }, { fairness, parkDelayMs: 60_000 }), { connection, prefix, concurrency: options.concurrency ?? 4 })
  } catch (error) {
    void raw.close().catch(() => undefined)
    redis.disconnect()
    throw error
  }
  // BullMQ reconnects by itself; a connection error is reported, not thrown.
  worker.on('error', (error) => options.onError?.(error))
  const view = async (job: Job): Promise<ReportStatus> => {
    const status = await statusOf(job)
    if (status !== 'done') return { id: job.id!, status, result: null }
    // It may have completed after `job` was read: read it again for its result.
    const done = job.returnvalue ?? (await raw.getJob(job.id!))?.returnvalue
    return { id: job.id!, status, result: (done ?? null) as Report | null }
  }
  return {
    async requestReport() {
      // Kept by age only (a count would let one tenant's reports push out another's).
      const job = await queue.add('report', {}, { attempts: 3, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } })
      return { id: job.id!, status: 'queued', result: null }
    },
    async report(id) {
      const job = await queue.getJob(id)
      return job === undefined ? undefined : view(job)
    },
    async jobCounts(tenantId): Promise<TenantJobCounts[]> {
      return queue.jobCounts(tenantId)
    },
    async close() {
      try {
        await worker.close()
      } finally {
        try {
          await raw.close()
        } finally {
          redis.disconnect()
        }
      }
    },
  }
}

/**
 * BullMQ's connection options from a redis:// or rediss:// URL, all of it:
 * user, password, database number, TLS, an IPv6 host without its brackets.
 */
export function connectionOf(redisUrl: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } {
  const url = new URL(redisUrl)
  const db = url.pathname.replace(/^\//, '')
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 6379),
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    ...(/^[0-9]+$/.test(db) ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  }
}
