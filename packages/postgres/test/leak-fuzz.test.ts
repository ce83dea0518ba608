/**
 * Property: any query Kysely can build over the tenant tables (all join kinds,
 * subqueries in WHERE and FROM, CTEs that shadow tenant tables, OR-heavy filters,
 * aggregates, UPDATE / DELETE / INSERT ... SELECT with RETURNING), run as tenant B
 * through Tenantry, gives exactly what it gives unscoped on a copy of B's rows only.
 *
 * FUZZ_RUNS (default 1000) sets the queries per wall and backend. A failure prints
 * the shrunk query, both compiled statements and both results, plus fast-check's
 * `{ seed, path }`: FUZZ_SEED=<seed> FUZZ_PATH=<path> replays exactly that case.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { Kysely, PostgresDialect } from 'kysely'
import { SharedSchemaIsolation, type SharedWalls } from '@tenantry/postgres'
import { dropRoles, testBackends, uniqueName, type TestDatabase } from '../../../test/support/backends.ts'
import { querySpec } from './fuzz/generate.ts'
import { judge } from './fuzz/oracle.ts'
import { createFuzzWorld, GLOBAL_TABLE, TENANT_TABLES, tenantA, tenantB, tenantC } from './fuzz/schema.ts'
import type { QuerySpec } from './fuzz/spec.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const PATH = process.env.FUZZ_PATH

const wallCases: { name: string; walls: SharedWalls }[] = [
  { name: 'the plugin wall only', walls: { plugin: true, rls: false } },
  { name: 'the RLS wall only', walls: { plugin: false, rls: true } },
  { name: 'both walls', walls: { plugin: true, rls: true } },
]

/** Coverage of one run, so that a fuzzer that only ever sees empty results fails loudly. */
interface Tally {
  queries: number
  withRows: number
  errors: number
  kinds: Record<string, number>
}

/** The features a query exercises, for the coverage line of the test output. */
function features(spec: QuerySpec): string[] {
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

for (const backend of testBackends()) {
  describe(`leak fuzzer on ${backend.name}`, () => {
    let database: TestDatabase
    let oracleDb: Kysely<any>
    const role = uniqueName('tenantry_app')

    before(async () => {
      database = await backend.createDatabase()
      await createFuzzWorld(database.pool)
      await new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE], runtimeRole: role }).install()
      oracleDb = new Kysely({ dialect: new PostgresDialect({ pool: database.pool }) })
    })

    after(async () => {
      await dropRoles(database, [role])
      await database.close()
    })

    for (const { name, walls } of wallCases) {
      it(`gives tenant B exactly the oracle's answer (B's rows only) for ${RUNS} random queries with ${name}`, async (t) => {
        const db = new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], runtimeRole: role, walls }).kysely()
        const counts: Tally = { queries: 0, withRows: 0, errors: 0, kinds: {} }
        const started = performance.now()
        const property = fc.asyncProperty(querySpec, async (spec) => {
          const verdict = await judge({ db, oracleDb, tenant: tenantB, foreignTenantIds: [tenantA.id, tenantC.id], spec, walls: name })
          tally(counts, spec, verdict.scoped.rows?.length ?? (verdict.scoped.affected === undefined ? undefined : Number(verdict.scoped.affected)), verdict.scoped.error !== undefined)
          if (verdict.problem !== undefined) throw new Error(verdict.problem)
        })
        await fc.assert(property, { numRuns: RUNS, includeErrorInReport: true, ...(SEED === undefined ? {} : { seed: SEED }), ...(PATH === undefined ? {} : { path: PATH }) })
        const seconds = (performance.now() - started) / 1000
        t.diagnostic(`${counts.queries} queries in ${seconds.toFixed(1)} s; ${counts.withRows} with rows, ${counts.errors} errors on both sides`)
        t.diagnostic(`coverage: ${Object.entries(counts.kinds).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`)
        // A fuzzer whose queries all come back empty proves nothing.
        assert.ok(counts.withRows >= counts.queries * 0.3, `only ${counts.withRows} of ${counts.queries} queries returned rows`)
      })
    }

    it('catches a leak the walls would let through: with a plugin that does not know the comments table, the property fails', async () => {
      const blind = new SharedSchemaIsolation(database, { tables: ['projects', 'tasks'], runtimeRole: role, walls: { plugin: true, rls: false } }).kysely()
      const result = await fc.check(
        fc.asyncProperty(querySpec, async (spec) => {
          const verdict = await judge({ db: blind, oracleDb, tenant: tenantB, foreignTenantIds: [tenantA.id, tenantC.id], spec, walls: 'plugin without comments' })
          if (verdict.problem !== undefined) throw new Error(verdict.problem)
        }),
        { numRuns: 300, endOnFailure: true, seed: 1 },
      )
      assert.equal(result.failed, true, 'an unscoped tenant table must be caught')
      assert.match(String((result.errorInstance as Error | null)?.message), /\nscoped SQL: .*\n {2}parameters: .*\noracle SQL.*\n {2}parameters: .*\nexpected \(oracle\): [^]*\nactual \(scoped\): /)
    })
  })
}
