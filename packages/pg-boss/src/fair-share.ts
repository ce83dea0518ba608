/**
 * Per-tenant fairness for pg-boss, across any number of worker processes,
 * with pg-boss's own priorities: a tenant's n-th pending job gets priority
 * −⌈n / weight⌉ (pg-boss takes the highest priority first), so the workers
 * take the tenants' jobs in turn instead of in arrival order. Optionally a
 * cap on each tenant's jobs running at once (all workers together). The
 * counts and leases live in two tables in pg-boss's schema.
 */
import { fairRanks, fairnessSettings, weightOf, type FairnessOptions, type FairnessSettings } from '@tenantry/core'
import { acquireSql, admitSql, doneSql, installFairnessSql, pendingSql, reconcileSql, releaseSql, renewSql, type BossDb } from './boss-sql.ts'

/** pg-boss's priorities are 32-bit integers; a rank past this is held at it. */
const LOWEST = -2_147_483_647

/** Fairness bound to one pg-boss schema (made by `TenantBoss`). */
export class BossFairness {
  readonly settings: FairnessSettings
  readonly #db: BossDb
  readonly #schema: string
  #installed: Promise<void> | undefined

  constructor(db: BossDb, schema: string, options: FairnessOptions) {
    this.settings = fairnessSettings(options)
    this.#db = db
    this.#schema = schema
  }

  /** Creates the tables and function once per process (idempotent across processes). */
  ready(): Promise<void> {
    this.#installed ??= this.#db.executeSql(installFairnessSql(this.#schema)).then(
      () => undefined,
      (error: unknown) => {
        this.#installed = undefined
        throw error
      },
    )
    return this.#installed
  }

  /** Counts `count` new pending jobs of the owner and returns their pg-boss priorities, in order. */
  async admit(queue: string, owner: string, plan: string | undefined, count: number): Promise<number[]> {
    await this.ready()
    const { rows } = await this.#db.executeSql(admitSql(this.#schema), [queue, owner, count])
    const last = Number(rows[0]?.pending ?? count)
    return fairRanks(last, count, weightOf(this.settings, { plan })).map((rank) => Math.max(LOWEST, -rank))
  }

  async done(queue: string, owner: string, count = 1): Promise<void> {
    await this.#db.executeSql(doneSql(this.#schema), [queue, owner, count])
  }

  async acquire(queue: string, owner: string, jobId: string): Promise<boolean> {
    if (this.settings.cap === undefined) return true
    await this.ready()
    const { rows } = await this.#db.executeSql(acquireSql(this.#schema), [queue, owner, jobId, this.settings.cap, this.settings.leaseMs])
    return rows[0]?.ok === true
  }

  async renew(queue: string, owner: string, jobId: string): Promise<void> {
    await this.#db.executeSql(renewSql(this.#schema), [queue, owner, jobId, this.settings.leaseMs])
  }

  async release(queue: string, owner: string, jobId: string): Promise<void> {
    await this.#db.executeSql(releaseSql(this.#schema), [queue, owner, jobId])
  }

  async pending(queue: string): Promise<Record<string, number>> {
    await this.ready()
    const { rows } = await this.#db.executeSql(pendingSql(this.#schema), [queue])
    return Object.fromEntries(rows.map((r: { tenant_id: string; pending: number }) => [r.tenant_id, Number(r.pending)]))
  }

  async reconcile(queue: string): Promise<void> {
    await this.ready()
    await this.#db.executeSql(reconcileSql(this.#schema), [queue])
  }
}
