/**
 * Scheduled work per tenant (a nightly report, a usage roll-up): a task run
 * once for each active tenant, in that tenant's scope, with bounded
 * concurrency, each tenant's failure kept to itself, progress as it goes,
 * and a summary of which tenants succeeded. The same run shape as the fleet
 * migrator (its `runPool`), over the catalog's pages.
 */
import { performance } from 'node:perf_hooks'
import { TenantryError, callSafely, isTenantryError, runWithTenant, type TenantStatus } from '@tenantry/core'
import { runPool } from '../migrations/run-pool.ts'
import type { TenantListQuery, TenantPage } from '../catalog/tenants.ts'
import type { TenantRecord } from '../catalog/rows.ts'

/** Where the tenants come from: the catalog (`tenantry.catalog`), or anything that pages like it. */
export interface TenantLister {
  list(query?: TenantListQuery): Promise<TenantPage>
}

/** One tenant's run, as `onEvent` and the summary report it. */
export type TenantTaskOutcome<R> =
  | { readonly tenantId: string; readonly slug: string; readonly ok: true; readonly result: R; readonly durationMs: number }
  | { readonly tenantId: string; readonly slug: string; readonly ok: false; readonly code: string; readonly message: string; readonly durationMs: number }

/**
 * Options of `forEachTenant`.
 *
 * @example
 * await forEachTenant(tenantry.catalog, task, { concurrency: 8, onEvent: (o) => log.info(o) })
 */
export interface ForEachTenantOptions<R> {
  /** Tenants run at once. Default 4. */
  readonly concurrency?: number
  /** Which tenants: default `active` (a suspended tenant's scheduled work does not run). */
  readonly status?: TenantStatus
  /** Stop starting tenants after the first failure (running ones finish; the rest are skipped). Default false: every tenant runs. */
  readonly stopOnError?: boolean
  /** Aborting stops new starts; the rest count as skipped. */
  readonly signal?: AbortSignal
  /** Told of each tenant as it finishes. A throwing listener does not change the run. */
  readonly onEvent?: (outcome: TenantTaskOutcome<R>, progress: { readonly done: number; readonly failed: number }) => void
  /** Tenants read from the catalog per page. Default 200. */
  readonly pageSize?: number
}

/** What a run did: each tenant's outcome, in the order they finished. */
export interface TenantTaskSummary<R> {
  readonly ok: number
  readonly failed: number
  /** Tenants not started (stopOnError after a failure, or aborted). */
  readonly skipped: number
  readonly durationMs: number
  readonly outcomes: readonly TenantTaskOutcome<R>[]
}

function invalid(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/**
 * Runs `task` once for each tenant (default: each active one), inside
 * `runWithTenant(tenant)`, so scoped queries see that tenant's rows only. A
 * tenant's failure is recorded (its error code and message) and the others go
 * on; the summary says which tenants succeeded. Tenants are read a page at a
 * time, so memory holds one page and the outcomes, whatever the fleet's size.
 *
 * @example
 * const summary = await forEachTenant(tenantry.catalog, async (tenant) => {
 *   const open = await tenantry.db.selectFrom('tasks').select((eb) => eb.fn.countAll().as('n')).where('done', '=', false).executeTakeFirstOrThrow()
 *   await mailer.send(tenant.slug, `You have ${open.n} open tasks`)
 *   return Number(open.n)
 * }, { concurrency: 8 })
 * console.log(`${summary.ok} sent, ${summary.failed} failed`)
 */
export async function forEachTenant<R>(tenants: TenantLister, task: (tenant: TenantRecord) => Promise<R> | R, options: ForEachTenantOptions<R> = {}): Promise<TenantTaskSummary<R>> {
  if (typeof tenants?.list !== 'function') throw invalid('tenants', 'must be the catalog (tenantry.catalog) or have list({ status, limit, cursor })')
  if (typeof task !== 'function') throw invalid('task', 'must be a function (tenant) => result')
  const concurrency = options.concurrency ?? 4
  if (!(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) throw invalid('options.concurrency', 'must be a whole number from 1 to 256')
  const pageSize = options.pageSize ?? 200
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1 && pageSize <= 500)) throw invalid('options.pageSize', 'must be a whole number from 1 to 500')
  const started = performance.now()
  const outcomes: TenantTaskOutcome<R>[] = []
  let failed = 0
  let skipped = 0
  const stop = (): boolean => options.signal?.aborted === true || (options.stopOnError === true && failed > 0)
  const one = async (tenant: TenantRecord): Promise<TenantTaskOutcome<R>> => {
    const t0 = performance.now()
    try {
      const result = await runWithTenant(tenant, () => task(tenant))
      return { tenantId: tenant.id, slug: tenant.slug, ok: true, result, durationMs: performance.now() - t0 }
    } catch (error) {
      const code = isTenantryError(error) ? error.code : 'TASK_FAILED'
      return { tenantId: tenant.id, slug: tenant.slug, ok: false, code, message: (error as Error)?.message ?? String(error), durationMs: performance.now() - t0 }
    }
  }
  let cursor: string | undefined
  let more = true
  while (more) {
    const page = await tenants.list({ status: options.status ?? 'active', limit: pageSize, ...(cursor === undefined ? {} : { cursor }) })
    cursor = page.nextCursor
    more = cursor !== undefined
    // Once the run stopped, the rest of the pages are read only to count what was skipped.
    if (stop()) {
      skipped += page.items.length
      continue
    }
    const run = await runPool(page.items, concurrency, one, {
      stop,
      onDone: (outcome) => {
        outcomes.push(outcome)
        if (!outcome.ok) failed++
        // A listener's failure (a throw, a rejected promise) does not change the run.
        const progress = { done: outcomes.length, failed }
        if (options.onEvent !== undefined) callSafely(() => options.onEvent!(outcome, progress))
      },
    })
    skipped += run.skipped
  }
  return { ok: outcomes.length - failed, failed, skipped, durationMs: performance.now() - started, outcomes }
}
