/**
 * Job tenancy, whatever the queue: the tenant is recorded with a job when it
 * is enqueued (refused with no scope unless it is an explicit system job),
 * and the worker re-enters that tenant's scope, re-read from the catalog,
 * before the handler runs. Queue integrations (BullMQ, pg-boss) wrap their
 * queue's add and their worker's processor around these two halves.
 */
import { performance } from 'node:perf_hooks'
import { TenantryError } from '../errors/index.ts'
import { callSafely } from '../observability/request-observer.ts'
import { MAX_REASON, currentScope, frozenTenant, leaveScope, runAsSystem, runWithTenant } from '../context/tenant-context.ts'
import { auditTextProblem } from '../tenant/input.ts'
import type { ScopedTenant } from '../context/scope.ts'
import { isUuid } from '../tenant/identifiers.ts'
import type { Tenant } from '../tenant/model.ts'

/** What a job records about its scope, inside its data (plain JSON, so any queue stores it). */
export type JobScopeRecord =
  | { readonly v: 1; readonly scope: 'tenant'; readonly tenantId: string; readonly slug: string }
  | { readonly v: 1; readonly scope: 'system'; readonly reason: string }

/**
 * A job's data as the queue stores it: the scope it was enqueued in, and the
 * payload.
 *
 * @example
 * const envelope: JobEnvelope<{ reportId: string }> = jobs.envelope({ reportId })
 */
export interface JobEnvelope<T = unknown> {
  readonly tenantry: JobScopeRecord
  readonly data: T
}

/**
 * What a worker does with a job it cannot run in its tenant's scope:
 * - `park`: the tenant is suspended or still provisioning: put the job back
 *   for later (the queue's delay), never run it now;
 * - `drop`: the tenant is gone (offboarding, deleted, unknown), or the job is
 *   not Tenantry's or names another tenant: fail it with no retry.
 */
export type JobDisposition = 'park' | 'drop'

/** Where a worker re-reads a job's tenant: the catalog (`TenantCatalog`), or any `getById`. */
export interface JobTenantSource {
  getById(id: string): Promise<Tenant | ScopedTenant | undefined>
}

/**
 * Options of `JobTenancy`.
 *
 * @example
 * const jobs = new JobTenancy({ tenants: tenantry.directory, payloadTenantKeys: ['tenantId', 'accountId'] })
 */
export interface JobTenancyOptions {
  /**
   * Where the worker re-reads each job's tenant before running it:
   * `tenantry.directory` (the catalog behind the cache the request path
   * uses, invalidated on every catalog change, across instances when they
   * share Redis), or `tenantry.catalog` (one query per job).
   */
  readonly tenants: JobTenantSource
  /**
   * Top-level payload fields that name a tenant: when present they must equal
   * the recorded tenant's id (checked at enqueue and again at run). Default
   * `['tenantId', 'tenant_id']`.
   */
  readonly payloadTenantKeys?: readonly string[]
  /** Told how each job ended (metrics: `TenantMetrics.jobObserver()`). */
  readonly observer?: JobObserver
}

/**
 * How a job ran (or why not), for the queue integration and its metrics.
 *
 * @example
 * const outcome = await jobs.run(job.data, handler)
 */
export type JobRun<R> =
  | { readonly ran: true; readonly result: R; readonly tenant: ScopedTenant | undefined }
  | { readonly ran: false; readonly disposition: JobDisposition; readonly error: TenantryError; readonly tenant: ScopedTenant | undefined }

/** The scope a handler runs in, as its second argument. */
export interface JobContext {
  /** The job's tenant (re-read from the catalog); undefined for a system job. */
  readonly tenant: ScopedTenant | undefined
  /** The system job's reason; undefined for a tenant job. */
  readonly systemReason: string | undefined
}

/** How a job's run ended, as a `JobObserver` is told. */
export interface JobOutcome {
  /** The job's tenant (re-read); undefined for a system job, or one whose tenant is gone or unknown. */
  readonly tenant: ScopedTenant | undefined
  /** The queue's name as the integration gives it (`reports`); `unknown` when it gives none. */
  readonly queue: string
  /** `completed`: the handler returned; `failed`: it threw; `parked` / `dropped`: not run (see JobDisposition). */
  readonly outcome: 'completed' | 'failed' | 'parked' | 'dropped'
  /** Milliseconds from the worker taking the job to its outcome (the handler included). */
  readonly durationMs: number
}

/**
 * Something that watches jobs run (metrics): `end` is called once per run
 * of `JobTenancy.run`. It sees the tenant, the queue and the outcome, never
 * the payload. An observer that throws does not change the job's outcome.
 *
 * @example
 * const jobs = new JobTenancy({ tenants: tenantry.directory, observer: metrics.jobObserver() })
 */
export interface JobObserver {
  end(outcome: JobOutcome): void
}

const DEFAULT_TENANT_KEYS = ['tenantId', 'tenant_id'] as const

function invalid(message: string, path: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', message, { details: [{ path, message }] })
}

/**
 * The tenant half of every job: `envelope` records the scope at enqueue,
 * `run` re-enters it in the worker. A job enqueued by tenant A runs as A or
 * not at all: never unscoped, never as B.
 *
 * Status rule at run time: `active` runs; `suspended` and `provisioning` are
 * parked (run later, once active); `offboarding`, `deleted` and unknown
 * tenants are dropped.
 *
 * @example
 * const jobs = new JobTenancy({ tenants: tenantry.directory })
 * // in a request (a tenant scope):
 * await queue.add('report', jobs.envelope({ reportId }))
 * // in the worker:
 * const outcome = await jobs.run(job.data, async (data, { tenant }) => buildReport(tenant!, data.reportId))
 */
export class JobTenancy {
  readonly #tenants: JobTenantSource
  readonly #keys: readonly string[]
  readonly #observer: JobObserver | undefined

  constructor(options: JobTenancyOptions) {
    if (typeof options?.tenants?.getById !== 'function') {
      throw invalid('JobTenancy needs { tenants }: tenantry.directory (the catalog, cached and invalidated on change), tenantry.catalog, or anything with getById(id)', 'options.tenants')
    }
    const keys = options.payloadTenantKeys ?? DEFAULT_TENANT_KEYS
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k.length === 0)) {
      throw invalid('payloadTenantKeys must be an array of field names', 'options.payloadTenantKeys')
    }
    if (options.observer !== undefined && typeof options.observer.end !== 'function') throw invalid('observer must have end(outcome)', 'options.observer')
    this.#tenants = options.tenants
    this.#keys = keys.map((k) => k.toLowerCase())
    this.#observer = options.observer
  }

  /**
   * The job data to enqueue in the current tenant's scope. Throws
   * TENANT_CONTEXT_MISSING outside a tenant scope (a system scope included:
   * use `systemEnvelope`), TENANT_MISMATCH when the payload names another
   * tenant, VALIDATION_FAILED when it is not plain JSON data.
   *
   * @example
   * await runWithTenant(acme, () => queue.add('report', jobs.envelope({ reportId: 7 })))
   */
  envelope<T>(data: T): JobEnvelope<T> {
    const scope = currentScope()
    if (scope?.kind !== 'tenant') {
      throw new TenantryError(
        'TENANT_CONTEXT_MISSING',
        scope?.kind === 'system'
          ? `A job enqueued in a system scope ("${scope.reason}") has no tenant: enqueue it inside runWithTenant(), or as a system job (systemEnvelope / addSystem)`
          : 'A job enqueued with no tenant in context: enqueue it inside runWithTenant(), or as an explicit system job (systemEnvelope / addSystem)',
      )
    }
    assertJson(data)
    assertNoRecord(data)
    this.#assertPayloadTenant(data, scope.tenant.id)
    return { tenantry: { v: 1, scope: 'tenant', tenantId: scope.tenant.id, slug: scope.tenant.slug }, data }
  }

  /**
   * The job data of an explicit system job (cross-tenant work, audited when it
   * runs as `runAsSystem(reason)`). Refused inside a tenant scope: tenant code
   * cannot start system work through a queue.
   *
   * @example
   * await queue.add('nightly-usage', jobs.systemEnvelope('nightly usage roll-up', { day: '2026-12-05' }))
   */
  systemEnvelope<T>(reason: string, data: T): JobEnvelope<T> {
    const problem = auditTextProblem(reason, MAX_REASON)
    if (problem !== undefined) throw invalid(`A system job needs a reason (it is written to the audit log when it runs): it ${problem}`, 'reason')
    const scope = currentScope()
    if (scope?.kind === 'tenant') {
      throw new TenantryError('TENANT_MISMATCH', `Tenant "${scope.tenant.slug}" cannot enqueue a system job ("${reason}"); enqueue it outside any tenant scope or in runAsSystem()`)
    }
    assertJson(data)
    assertNoRecord(data)
    return { tenantry: { v: 1, scope: 'system', reason }, data }
  }

  /**
   * Runs a job's handler in the scope its envelope recorded: the tenant
   * re-read from the catalog (`runWithTenant`), or `runAsSystem(reason)`.
   * Whatever scope the worker itself runs in is left first. A job it cannot
   * run comes back as `{ ran: false, disposition, error }` (the handler was
   * not called); the handler's own error is thrown as it is.
   *
   * @example
   * const outcome = await jobs.run(job.data, (data, { tenant }) => send(tenant!, data))
   * if (!outcome.ran && outcome.disposition === 'park') await requeueLater(job)
   */
  async run<T, R>(stored: unknown, handler: (data: T, context: JobContext) => R | Promise<R>, job: { readonly queue?: string } = {}): Promise<JobRun<R>> {
    const observer = this.#observer
    if (observer === undefined) return this.#run(stored, handler, {})
    const started = performance.now()
    // An observer's failure (a throw, a rejected promise) never changes the job's outcome.
    const report = (outcome: JobOutcome['outcome'], tenant: ScopedTenant | undefined): void => {
      const ended: JobOutcome = { tenant, queue: job.queue ?? 'unknown', outcome, durationMs: performance.now() - started }
      callSafely(() => observer.end(ended))
    }
    const seen: { tenant?: ScopedTenant } = {}
    let run: JobRun<R>
    try {
      run = await this.#run(stored, handler, seen)
    } catch (error) {
      report('failed', seen.tenant)
      throw error
    }
    report(run.ran ? 'completed' : run.disposition === 'park' ? 'parked' : 'dropped', run.tenant)
    return run
  }

  /** `seen.tenant`: the tenant the handler ran for, once it is called (for the observer of a failure). */
  async #run<T, R>(stored: unknown, handler: (data: T, context: JobContext) => R | Promise<R>, seen: { tenant?: ScopedTenant }): Promise<JobRun<R>> {
    let record: JobScopeRecord
    try {
      record = readRecord(stored)
    } catch (error) {
      return { ran: false, disposition: 'drop', error: error as TenantryError, tenant: undefined }
    }
    const data = (stored as JobEnvelope<T>).data
    // A worker is a boundary, not a place inside a request: running another tenant's job (or a system job)
    // from inside a tenant's scope is refused, as runWithTenant refuses a nested switch.
    const outer = currentScope()
    if (outer?.kind === 'tenant' && (record.scope === 'system' || record.tenantId !== outer.tenant.id)) {
      throw new TenantryError('TENANT_CONTEXT_CONFLICT', `Refusing to run a job of ${record.scope === 'system' ? 'the system' : `tenant "${record.slug}"`} inside tenant "${outer.tenant.slug}"'s scope; run workers outside any tenant scope`)
    }
    if (record.scope === 'system') {
      const result = await leaveScope(() => runAsSystem(record.reason, () => handler(data, { tenant: undefined, systemReason: record.reason }), { actor: 'job' }))
      return { ran: true, result, tenant: undefined }
    }
    const found = await leaveScope(() => this.#tenants.getById(record.tenantId))
    // The scope's deep-frozen copy, before anything reads it: the checks, the handler's context, the observer and
    // the scope see one object that none of them can change (nor change the source's object through).
    const tenant: ScopedTenant | undefined = found === undefined ? undefined : frozenTenant(found, 'JobTenancy tenants')
    if (tenant === undefined || tenant.id !== record.tenantId || tenant.status === 'deleted') {
      return { ran: false, disposition: 'drop', error: new TenantryError('TENANT_NOT_FOUND', `The job's tenant "${record.slug}" (${record.tenantId}) no longer exists; the job is dropped`), tenant: undefined }
    }
    if (tenant.status !== 'active') {
      const disposition: JobDisposition = tenant.status === 'offboarding' ? 'drop' : 'park'
      const what = disposition === 'park' ? 'parked until it is active again' : 'dropped'
      return { ran: false, disposition, error: new TenantryError('TENANT_SUSPENDED', `Tenant "${tenant.slug}" is ${tenant.status}: its job is ${what}`), tenant }
    }
    try {
      this.#assertPayloadTenant(data, tenant.id)
    } catch (error) {
      return { ran: false, disposition: 'drop', error: error as TenantryError, tenant }
    }
    seen.tenant = tenant
    const result = await leaveScope(() => runWithTenant(tenant, () => handler(data, { tenant, systemReason: undefined })))
    return { ran: true, result, tenant }
  }

  #assertPayloadTenant(data: unknown, tenantId: string): void {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return
    // Any case: tenantID and TenantId name a tenant as surely as tenantId.
    for (const key of Object.keys(data)) {
      if (!this.#keys.includes(key.toLowerCase())) continue
      const named = (data as Record<string, unknown>)[key]
      if (named !== tenantId) {
        throw new TenantryError('TENANT_MISMATCH', `The job's payload names tenant ${JSON.stringify(named)} in "${key}" but the job belongs to tenant ${tenantId}; a job runs only as the tenant that enqueued it`, {
          details: [{ path: `data.${key}`, message: 'must be the recorded tenant id' }],
        })
      }
    }
  }
}

/**
 * True when a stored job's data carries Tenantry's scope record (a job added
 * with `envelope` or `systemEnvelope`).
 *
 * @example
 * if (!isJobEnvelope(job.data)) throw new Error('not a Tenantry job')
 */
export function isJobEnvelope(stored: unknown): stored is JobEnvelope {
  try {
    readRecord(stored)
    return true
  } catch {
    return false
  }
}

/** The scope record of a stored job; VALIDATION_FAILED when it is missing or malformed. */
function readRecord(stored: unknown): JobScopeRecord {
  // Own properties only: a polluted prototype never supplies a record.
  const own = (o: unknown, key: string): unknown => (typeof o === 'object' && o !== null && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined)
  const record = own(stored, 'tenantry')
  if (typeof record !== 'object' || record === null || !Object.hasOwn(stored as object, 'data')) {
    throw invalid('This job carries no tenant record: it was not enqueued through Tenantry (envelope / addSystem), so it is not run', 'job.data.tenantry')
  }
  const r: Record<string, unknown> = { v: own(record, 'v'), scope: own(record, 'scope'), tenantId: own(record, 'tenantId'), slug: own(record, 'slug'), reason: own(record, 'reason') }
  if (r.v !== 1) throw invalid(`Unknown job record version ${JSON.stringify(r.v)}`, 'job.data.tenantry.v')
  if (r.scope === 'tenant') {
    if (typeof r.tenantId !== 'string' || !isUuid(r.tenantId)) throw invalid('The job record\'s tenantId is not a tenant id', 'job.data.tenantry.tenantId')
    return { v: 1, scope: 'tenant', tenantId: r.tenantId, slug: typeof r.slug === 'string' ? r.slug : r.tenantId }
  }
  if (r.scope === 'system') {
    // Checked as systemEnvelope and runAsSystem check it (a record from before, or written by hand): refused here, the job dropped, not retried.
    const problem = auditTextProblem(r.reason, MAX_REASON)
    if (problem !== undefined) throw invalid(`The system job record's reason ${problem}`, 'job.data.tenantry.reason')
    return { v: 1, scope: 'system', reason: r.reason as string }
  }
  throw invalid(`Unknown job scope ${JSON.stringify(r.scope)}`, 'job.data.tenantry.scope')
}

/**
 * `tenantry` is the record's key: a payload that has one is refused, so job
 * data written back whole (`job.updateData(payload)`) can never pass for an
 * envelope; such a job carries no record and is dropped.
 */
function assertNoRecord(data: unknown): void {
  if (typeof data === 'object' && data !== null && !Array.isArray(data) && Object.keys(data).some((k) => k.toLowerCase() === 'tenantry')) {
    throw invalid('Job data must not have a top-level "tenantry" field: it is where Tenantry records the job\'s tenant', 'data.tenantry')
  }
}

/** Job data must survive the queue's JSON: no functions, class instances, cycles or undefined-only values. */
function assertJson(data: unknown): void {
  let text: string | undefined
  try {
    text = JSON.stringify(data)
  } catch (error) {
    throw invalid(`Job data must be plain JSON: ${(error as Error).message}`, 'data')
  }
  if (text === undefined) throw invalid('Job data must be plain JSON (an object, array, string, number, boolean or null)', 'data')
}
