/**
 * One run of the leak property: random queries as one tenant through a scoped
 * instance, each judged against the oracle, with a coverage tally so that a
 * fuzzer that only ever sees empty results fails loudly.
 *
 * FUZZ_RUNS (default 1000) sets the queries per run. A failure prints the shrunk
 * query, both compiled statements and both results, plus fast-check's
 * `{ seed, path }`: FUZZ_SEED=<seed> FUZZ_PATH=<path> replays exactly that case.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { ScopedTenant } from '@tenantry/core'
import fc from 'fast-check'
import type { Kysely } from 'kysely'
import { judge, runScoped, type OracleCopy } from './oracle.ts'
import { TENANT_TABLES } from './schema.ts'
import type { QuerySpec } from './spec.ts'

export const RUNS = Number(process.env.FUZZ_RUNS ?? 1000)
export const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
export const PATH = process.env.FUZZ_PATH

/** Coverage of one run. */
interface Tally {
  queries: number
  withRows: number
  errors: number
  kinds: Record<string, number>
}

/** The features a query exercises, for the coverage line of the test output. */
export function features(spec: QuerySpec): string[] {
  const text = JSON.stringify(spec)
  const tags: string[] = [spec.kind]
  if (spec.kind === 'select') {
    tags.push(...spec.joins.map((j) => `${j.lateral ? 'lateral ' : ''}${j.kind} join`))
    if (spec.compound) tags.push(spec.compound.op)
    if (spec.output.o === 'aggregate') tags.push('aggregate')
    if (spec.from.length > 1) tags.push('comma from')
  }
  if ((spec.kind === 'update' || spec.kind === 'delete') && spec.returning.length > 0) tags.push(`${spec.kind} returning`)
  if ('join' in spec && spec.join) tags.push(`${spec.kind} with join`)
  tags.push(...spec.with.map((c) => `cte ${c.c}`))
  if (spec.with.some((c) => (TENANT_TABLES as readonly string[]).includes(c.name))) tags.push('cte shadowing a tenant table')
  if (text.includes('"sub":')) tags.push('subquery')
  if (text.includes('"s":"derived"')) tags.push('derived table')
  if (text.includes('"p":"or"')) tags.push('or')
  return tags
}

function tally(t: Tally, spec: QuerySpec, rows: number | undefined, failed: boolean): void {
  t.queries++
  if (failed) t.errors++
  if (rows !== undefined && rows > 0) t.withRows++
  for (const tag of new Set(features(spec))) t.kinds[tag] = (t.kinds[tag] ?? 0) + 1
}

export interface FuzzTarget {
  /** The scoped instance under test. */
  readonly db: Kysely<any>
  /** An unscoped instance on the database holding the oracle's schema. */
  readonly oracleDb: Kysely<any>
  readonly oracle?: OracleCopy
  /** The tenant the queries run as (B), and the ids of the others. */
  readonly tenant: ScopedTenant
  readonly foreignTenantIds: readonly string[]
  /**
   * Another tenant that runs each query first on the same instance (unjudged, writes
   * rolled back): whatever its transaction leaves on a pooled connection (a
   * search_path, a role, a tenant setting) must not reach the judged tenant's.
   */
  readonly interleave?: ScopedTenant
  readonly specs: fc.Arbitrary<QuerySpec>
  /** What is under test, for the failure text: the walls, or the model and instance. */
  readonly label: string
}

/** Asserts the property for RUNS queries and reports their count, time and coverage. */
export async function assertNoLeak(t: TestContext, target: FuzzTarget): Promise<void> {
  const counts: Tally = { queries: 0, withRows: 0, errors: 0, kinds: {} }
  const started = performance.now()
  const property = fc.asyncProperty(target.specs, async (spec) => {
    if (target.interleave !== undefined) await runScoped(target.db, target.interleave, spec)
    const verdict = await judge({ ...target, spec, walls: target.label })
    tally(counts, spec, verdict.scoped.rows?.length ?? (verdict.scoped.affected === undefined ? undefined : Number(verdict.scoped.affected)), verdict.scoped.error !== undefined)
    if (verdict.problem !== undefined) throw new Error(verdict.problem)
  })
  await fc.assert(property, { numRuns: RUNS, includeErrorInReport: true, ...(SEED === undefined ? {} : { seed: SEED }), ...(PATH === undefined ? {} : { path: PATH }) })
  const seconds = (performance.now() - started) / 1000
  t.diagnostic(`${counts.queries} queries in ${seconds.toFixed(1)} s; ${counts.withRows} with rows, ${counts.errors} errors on both sides`)
  t.diagnostic(`coverage: ${Object.entries(counts.kinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`)
  // A fuzzer whose queries all come back empty proves nothing.
  assert.ok(counts.withRows >= counts.queries * 0.3, `only ${counts.withRows} of ${counts.queries} queries returned rows`)
}

/**
 * The harness must be able to fail: on an instance known to leak, the property
 * fails within `numRuns` queries, with a complete reproduction in its message.
 */
export async function assertLeakCaught(target: FuzzTarget, numRuns = 300): Promise<void> {
  const result = await fc.check(
    fc.asyncProperty(target.specs, async (spec) => {
      const verdict = await judge({ ...target, spec, walls: target.label })
      if (verdict.problem !== undefined) throw new Error(verdict.problem)
    }),
    { numRuns, endOnFailure: true, seed: 1 },
  )
  assert.equal(result.failed, true, `the leak of ${target.label} must be caught`)
  assert.match(String((result.errorInstance as Error | null)?.message), /\nscoped SQL: .*\n {2}parameters: .*\noracle SQL.*\n {2}parameters: .*\nexpected \(oracle\): [^]*\nactual \(scoped\): /)
}
