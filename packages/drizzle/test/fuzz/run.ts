/**
 * One run of the Drizzle leak property: RUNS plans (FUZZ_RUNS, default 1000)
 * as tenant B, each judged against the oracle, with a coverage tally, and at
 * the end every tenant's rows in every placement as seeded. FUZZ_SEED and
 * FUZZ_PATH replay a failure, as in packages/postgres/test/fuzz/run.ts.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import fc from 'fast-check'
import { features, PATH, RUNS, SEED } from '../../../postgres/test/fuzz/run.ts'
import { judge, type DrizzleFuzzTarget } from './judge.ts'
import { planTags, plans } from './plan.ts'

export { RUNS }

/** Asserts the property for RUNS plans; reports their count, time and coverage; checks every region is as seeded. */
export async function assertNoLeak(t: TestContext, target: DrizzleFuzzTarget): Promise<void> {
  let queries = 0
  let withRows = 0
  let errors = 0
  const kinds: Record<string, number> = {}
  const started = performance.now()
  const property = fc.asyncProperty(plans(target.specs), async (plan) => {
    const verdict = await judge(target, plan)
    queries++
    if (verdict.scoped.error !== undefined) errors++
    const rows = verdict.scoped.rows?.length ?? (verdict.scoped.affected === undefined ? 0 : Number(verdict.scoped.affected))
    if (rows > 0) withRows++
    for (const tag of new Set([...features(plan.spec), ...planTags(plan)])) kinds[tag] = (kinds[tag] ?? 0) + 1
    if (verdict.problem !== undefined) throw new Error(verdict.problem)
  })
  await fc.assert(property, { numRuns: RUNS, includeErrorInReport: true, ...(SEED === undefined ? {} : { seed: SEED }), ...(PATH === undefined ? {} : { path: PATH }) })
  const seconds = (performance.now() - started) / 1000
  t.diagnostic(`${queries} queries in ${seconds.toFixed(1)} s (${((seconds * 1000) / Math.max(queries, 1)).toFixed(1)} s per 1000); ${withRows} with rows, ${errors} errors on both sides`)
  t.diagnostic(`coverage: ${Object.entries(kinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`)
  // A fuzzer whose queries all come back empty proves nothing.
  assert.ok(withRows >= queries * 0.3, `only ${withRows} of ${queries} queries returned rows`)
  assert.deepEqual(await target.world.changedSince(), [], 'every tenant\'s rows, in every placement, as seeded')
}

/**
 * The harness must be able to fail: on a world known to leak, the property
 * fails within `numRuns` plans, with a complete reproduction in its message.
 */
export async function assertLeakCaught(target: DrizzleFuzzTarget, numRuns = 300): Promise<void> {
  const result = await fc.check(
    fc.asyncProperty(plans(target.specs), async (plan) => {
      const verdict = await judge(target, plan)
      if (verdict.problem !== undefined) throw new Error(verdict.problem)
    }),
    { numRuns, endOnFailure: true, seed: 1 },
  )
  assert.equal(result.failed, true, `the leak of ${target.label} must be caught`)
  assert.match(
    String((result.errorInstance as Error | null)?.message),
    /^(LEAK|the scoped result)[^]*\nspec: .*\nscoped SQL .*\n {2}parameters: .*\noracle SQL.*\n {2}parameters: .*\nexpected \(oracle\): [^]*\nactual \(scoped\): /,
  )
  await target.world.restoreAll()
}
