/**
 * How the Drizzle fuzzer runs one generated query: through the builder or as
 * raw `sql` in `db.execute()`, prepared or not, as its own statement (writes
 * commit) or inside `db.transaction()` (optionally with an isolation level, or
 * nested in a savepoint) that commits or rolls back, on the model's own pool or
 * on a TenantData's serving all three models, after (or beside) another
 * tenant's run of the same query on that pool (which may end in an error).
 */
import fc from 'fast-check'
import { sql, TransactionRollbackError } from 'drizzle-orm'
import { writes } from '../../../postgres/test/fuzz/generate.ts'
import type { QuerySpec } from '../../../postgres/test/fuzz/spec.ts'
import { rawStatement } from './raw-sql.ts'
import { buildDrizzleQuery, type DrizzleDb } from './render.ts'
import type { FuzzTables } from './tables.ts'

export type Via = 'builder' | 'sql'
export type Path = 'statement' | 'transaction' | 'savepoint'
export type Isolation = 'repeatable read' | 'serializable'

export interface Plan {
  readonly spec: QuerySpec
  readonly via: Via
  /** Builder only: `.prepare(name).execute()`, one statement name for every query. */
  readonly prepared: boolean
  readonly path: Path
  /** `db.transaction(…, { isolationLevel })` (transaction and savepoint paths). */
  readonly isolation: Isolation | null
  /** `accessMode: 'read only'` on the transaction (read-only queries, transaction and savepoint paths). */
  readonly readOnly: boolean
  /** A write in a transaction commits (else rolls back); as its own statement it always commits. */
  readonly commit: boolean
  /** The model's own TenantData pool, or the one serving all three models. */
  readonly pool: 'own' | 'all'
  /** Which other tenant of that pool runs the query first (an index into its list). */
  readonly other: number
  /** Read-only queries: the other tenant's run goes at the same time, not before. */
  readonly concurrent: boolean
  /** The other tenant's transaction fails after its query (`select 1 / 0`) and is rolled back by Drizzle. */
  readonly otherFails: boolean
}

/** One statement name for every prepared query: a name left prepared on a connection must not serve another tenant. */
export const STATEMENT_NAME = 'tenantry_fuzz'

const weighted = <T>(...choices: readonly [T, number][]) =>
  fc.oneof(...choices.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })))
const chance = (n: number) => fc.nat({ max: n - 1 }).map((x) => x === n - 1)

export function plans(specs: fc.Arbitrary<QuerySpec>): fc.Arbitrary<Plan> {
  return fc.record({
    spec: specs,
    via: weighted<Via>(['builder', 3], ['sql', 1]),
    prepared: chance(4),
    path: weighted<Path>(['statement', 2], ['transaction', 2], ['savepoint', 1]),
    isolation: weighted<Isolation | null>([null, 4], ['repeatable read', 1], ['serializable', 1]),
    readOnly: chance(4),
    commit: fc.boolean(),
    pool: weighted<'own' | 'all'>(['own', 1], ['all', 1]),
    other: fc.nat({ max: 5 }),
    concurrent: chance(4),
    otherFails: chance(5),
  }).map((plan) => {
    const readOnly = !writes(plan.spec)
    return { ...plan, prepared: plan.prepared && plan.via === 'builder', readOnly: plan.readOnly && readOnly && plan.path !== 'statement', concurrent: plan.concurrent && readOnly }
  })
}

/** True when the plan's write stays: its own statement, or a transaction that commits. */
export function commits(plan: Plan): boolean {
  return writes(plan.spec) && (plan.path === 'statement' || plan.commit)
}

/** The plan as another tenant runs it beside the judged one: its writes always rolled back, its failure inside a transaction. */
export function interleaved(plan: Plan): Plan {
  const inTransaction = writes(plan.spec) || plan.otherFails
  return inTransaction ? { ...plan, path: plan.path === 'statement' ? 'transaction' : plan.path, commit: false } : plan
}

/** The plan's statement on `db` (a database or transaction): the builder's rows, or node-postgres' result. */
export function statement(db: DrizzleDb, plan: Plan, tables: FuzzTables): Promise<unknown> {
  if (plan.via === 'sql') return db.execute(rawStatement(plan.spec))
  const query = buildDrizzleQuery(db, plan.spec, tables)
  return plan.prepared ? query.prepare(STATEMENT_NAME).execute() : query.execute()
}

/** Runs `body` the plan's way: as is, or in `db.transaction()` / a savepoint in it, committed or rolled back. */
export async function onPath(db: DrizzleDb, plan: Pick<Plan, 'path' | 'isolation' | 'readOnly'>, commit: boolean, body: (db: DrizzleDb) => Promise<unknown>): Promise<unknown> {
  if (plan.path === 'statement') return body(db)
  let result: unknown
  const config = plan.isolation === null && !plan.readOnly
    ? undefined
    : { ...(plan.isolation === null ? {} : { isolationLevel: plan.isolation }), ...(plan.readOnly ? { accessMode: 'read only' as const } : {}) }
  await rollbackIsFine(db.transaction(async (tx: DrizzleDb) => {
    if (plan.path === 'transaction') {
      result = await body(tx)
      if (!commit) tx.rollback()
      return
    }
    await rollbackIsFine(tx.transaction(async (savepoint: DrizzleDb) => {
      result = await body(savepoint)
      if (!commit) savepoint.rollback()
    }))
  }, config))
  return result
}

/** The oracle's way: one transaction on the copy's search_path, committed exactly when the scoped run's write stays. */
export async function onOracle(db: DrizzleDb, schema: string, commit: boolean, body: (db: DrizzleDb) => Promise<unknown>): Promise<unknown> {
  let result: unknown
  await rollbackIsFine(db.transaction(async (tx: DrizzleDb) => {
    await tx.execute(sql`select set_config('search_path', ${schema}, true)`)
    result = await body(tx)
    if (!commit) tx.rollback()
  }))
  return result
}

async function rollbackIsFine(transaction: Promise<unknown>): Promise<void> {
  try {
    await transaction
  } catch (error) {
    if (!(error instanceof TransactionRollbackError)) throw error
  }
}

/** Tags for the coverage line. */
export function planTags(plan: Plan): string[] {
  return [
    plan.via === 'sql' ? 'raw sql' : plan.prepared ? 'builder prepared' : 'builder',
    plan.path === 'statement' ? 'own statement' : plan.path === 'savepoint' ? 'in a savepoint' : 'in db.transaction()',
    ...(plan.isolation ? [plan.isolation] : []),
    ...(plan.readOnly ? ['read only'] : []),
    ...(commits(plan) ? ['committed write'] : writes(plan.spec) ? ['rolled-back write'] : []),
    plan.pool === 'own' ? "model's own pool" : 'TenantData pool of all three',
    ...(plan.concurrent ? ['concurrent with another tenant'] : []),
    ...(plan.otherFails ? ["another tenant's transaction failed first"] : []),
  ]
}
