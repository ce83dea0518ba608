/**
 * A tenant's jobs in one queue, as an admin console shows them: what waits
 * (queued, parked and delayed included), what runs, what failed for good and
 * is still kept by the queue. Each queue adapter answers it from its own store.
 */

/**
 * One queue's counts of one tenant's jobs.
 *
 * @example
 * { queue: 'reports', queued: 12, running: 2, failed: 1 }
 */
export interface TenantJobCounts {
  readonly queue: string
  readonly queued: number
  readonly running: number
  readonly failed: number
}

/**
 * What reads a tenant's job counts: `TenantBoss` (pg-boss) and `TenantQueue`
 * (BullMQ) are ones; an admin console takes any.
 *
 * @example
 * const counts = await reports.jobCounts(tenant.id)   // [{ queue: 'reports', queued: 3, running: 1, failed: 0 }]
 */
export interface TenantJobStats {
  jobCounts(tenantId: string): Promise<readonly TenantJobCounts[]>
}
