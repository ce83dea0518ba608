/**
 * The Drizzle fuzzer's oracle: a plan run as tenant B through `drizzle(pool)`
 * over a TenantPool must give exactly what the same Drizzle query gives,
 * unscoped, on the copy holding only B's rows; and when its write commits, every
 * region but B's must be as seeded. No query rewrite is involved: RLS (shared),
 * search_path and the tenant's role (schema) and the router (database) are the
 * only walls.
 */
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import { isTenantryError, runWithTenant } from '@tenantry/core'
import { DrizzleQueryError, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type fc from 'fast-check'
import type pg from 'pg'
import { failureReport, foreignRows, rowText, sameOutcome, type Outcome, type ShownStatement } from '../../../postgres/test/fuzz/oracle.ts'
import type { QuerySpec } from '../../../postgres/test/fuzz/spec.ts'
import { commits, interleaved, onOracle, onPath, statement, type Plan } from './plan.ts'
import { rawText } from './raw-sql.ts'
import { buildDrizzleQuery, type DrizzleDb } from './render.ts'
import type { FuzzTables } from './tables.ts'
import { ownRegions, type FuzzWorld } from './world.ts'

/** One `drizzle(pool)` under test, and the tenants that share its pool with B. */
export interface PoolUnderTest {
  readonly db: DrizzleDb
  readonly others: readonly ScopedTenant[]
}

export interface DrizzleFuzzTarget {
  readonly world: FuzzWorld
  /** The model B is placed in: which region its committed writes may change. */
  readonly model: IsolationModelName
  /** The tenant the queries run as (B), and the ids of the others. */
  readonly tenant: ScopedTenant
  readonly foreignTenantIds: readonly string[]
  readonly pools: Readonly<Record<Plan['pool'], PoolUnderTest>>
  /** An unscoped drizzle() on the database holding the oracle's copy, and the copy's schema. */
  readonly oracle: { readonly db: DrizzleDb; readonly schema: string }
  readonly tables: FuzzTables
  readonly specs: fc.Arbitrary<QuerySpec>
  /** What is under test, for the failure text. */
  readonly label: string
}

function outcomeOf(plan: Plan, result: unknown): Outcome {
  const spec = plan.spec
  if ((spec.kind === 'update' || spec.kind === 'delete') && spec.returning.length === 0) {
    return { affected: String((result as pg.QueryResult).rowCount) }
  }
  const rows = plan.via === 'sql' ? (result as pg.QueryResult).rows : (result as Record<string, unknown>[])
  return { rows: rows.map(rowText).sort() }
}

/** Drizzle wraps the driver's error (a PostgreSQL error, or Tenantry's refusal) in a DrizzleQueryError. */
function errorOutcome(error: unknown): Outcome {
  const cause = error instanceof DrizzleQueryError && error.cause !== undefined ? error.cause : error
  if (isTenantryError(cause)) return { error: cause.message, code: cause.code }
  const code = (cause as { code?: unknown }).code
  return { error: cause instanceof Error ? cause.message : String(cause), ...(typeof code === 'string' ? { code } : {}) }
}

async function captured(plan: Plan, run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return outcomeOf(plan, await run())
  } catch (error) {
    return errorOutcome(error)
  }
}

/** The statement as it goes to both sides (the same on both: one renderer, one text). */
function shownStatement(plan: Plan, tables: FuzzTables): ShownStatement {
  try {
    const built = plan.via === 'sql' ? rawText(plan.spec) : buildDrizzleQuery(drizzle.mock(), plan.spec, tables).toSQL()
    return { sql: built.sql, parameters: built.params }
  } catch (error) {
    return { sql: `(does not build: ${(error as Error).message})`, parameters: [] }
  }
}

/**
 * False when the statement is known to have changed no row anywhere: an UPDATE,
 * DELETE or INSERT (none of them carries a data-modifying CTE) that failed or
 * reported no row, wherever it ran. A SELECT with a data-modifying CTE reports
 * the SELECT's rows, not the CTE's: it may always have written.
 */
function wrote(plan: Plan, outcome: Outcome): boolean {
  if (plan.spec.kind === 'select') return true
  if (outcome.error !== undefined) return false
  return outcome.affected === undefined ? (outcome.rows?.length ?? 0) > 0 : outcome.affected !== '0'
}

export interface Verdict {
  readonly scoped: Outcome
  /** Undefined when the scoped result equals the oracle's, carries no foreign tenant id, and a committed write changed B's rows only. */
  readonly problem?: string
}

/**
 * Runs the plan: first (or, for a read, at the same time) as another tenant on
 * the same pool, unjudged, its writes rolled back; then as B; then on the
 * oracle's copy. A committed write is followed by the fingerprint of every other
 * region and the restore of B's rows (of every region when another changed).
 * The problem text is a complete reproduction.
 */
export async function judge(target: DrizzleFuzzTarget, plan: Plan): Promise<Verdict> {
  const { world, tables } = target
  const pool = target.pools[plan.pool]
  const other = pool.others.length === 0 ? undefined : pool.others[plan.other % pool.others.length]
  const beside = interleaved(plan)
  const runOther = async () => {
    if (other === undefined) return
    await captured(beside, () => runWithTenant(other, () => onPath(pool.db, beside, false, async (db) => {
      const result = await statement(db, beside, tables)
      if (plan.otherFails) await db.execute(sql`select 1 / 0`)
      return result
    })))
  }
  const runScoped = () => captured(plan, () => runWithTenant(target.tenant, () => onPath(pool.db, plan, commits(plan), (db) => statement(db, plan, tables))))
  let scoped: Outcome
  if (plan.concurrent) {
    ;[, scoped] = await Promise.all([runOther(), runScoped()])
  } else {
    await runOther()
    scoped = await runScoped()
  }
  // The oracle never prepares: its plain pool keeps no promise about statement names.
  const expected = await captured(plan, () => onOracle(target.oracle.db, target.oracle.schema, commits(plan), (db) => statement(db, { ...plan, prepared: false }, tables)))
  let changed: string[] = []
  if (commits(plan) && (wrote(plan, scoped) || wrote(plan, expected))) {
    changed = await world.changedSince(ownRegions(target.model)).catch((error: Error) => [`(no fingerprint: ${error.message})`])
    await (changed.length > 0 ? world.restoreAll() : world.restore(target.model))
  }
  const leaked = foreignRows(scoped, target.foreignTenantIds)
  if (sameOutcome(scoped, expected) && leaked.length === 0 && changed.length === 0) return { scoped }
  const shown = shownStatement(plan, tables)
  return {
    scoped,
    problem: failureReport({
      leaked,
      changed,
      walls: target.label,
      tenant: target.tenant,
      context: [`plan: ${JSON.stringify({ ...plan, spec: undefined })}; first ran as ${other ? `${other.slug} (${other.isolation ?? 'shared'})` : 'nobody'}${plan.concurrent ? ', concurrently' : ''}`],
      spec: plan.spec,
      scoped: { ...shown, label: plan.via === 'sql' ? 'db.execute(sql)' : 'Drizzle builder' },
      oracle: { ...shown, label: `the same, unprepared, on search_path ${target.oracle.schema}` },
      expected,
      actual: scoped,
    }),
  }
}
