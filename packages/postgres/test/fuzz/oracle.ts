/**
 * The fuzzer's oracle: a query run as tenant B through the Tenantry walls must give
 * exactly what the same query gives, unscoped, on a copy holding only B's rows.
 * Writes run in a transaction that is rolled back, so the data never drifts.
 */
// Kysely<any>: the fuzzer works on a schema it describes at run time.
import { isTenantryError, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { sql, type Kysely } from 'kysely'
import { writes } from './generate.ts'
import { buildQuery } from './render.ts'
import type { QuerySpec } from './spec.ts'

/** What running a query gave: its rows (as sorted, stable text), an affected count, or an error. */
export interface Outcome {
  readonly rows?: readonly string[]
  readonly affected?: string
  readonly error?: string
  /** SQLSTATE for database errors, the Tenantry code for refusals. */
  readonly code?: string
}

const ROLLBACK = Symbol('rollback after reading the result')

/** A row as stable text: its columns sorted by name, bigints as strings. */
export function rowText(row: Record<string, unknown>): string {
  const keys = Object.keys(row).sort()
  return JSON.stringify(keys.map((k) => [k, row[k]]), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

function outcomeOf(spec: QuerySpec, result: unknown[]): Outcome {
  if ((spec.kind === 'update' || spec.kind === 'delete') && spec.returning.length === 0) {
    const first = result[0] as { numUpdatedRows?: bigint; numDeletedRows?: bigint } | undefined
    return { affected: String(first?.numUpdatedRows ?? first?.numDeletedRows) }
  }
  return { rows: (result as Record<string, unknown>[]).map(rowText).sort() }
}

function errorOutcome(error: unknown): Outcome {
  if (isTenantryError(error)) return { error: error.message, code: error.code }
  const code = (error as { code?: unknown }).code
  return { error: error instanceof Error ? error.message : String(error), ...(typeof code === 'string' ? { code } : {}) }
}

async function captured(spec: QuerySpec, run: (keep: (rows: unknown[]) => never) => Promise<unknown>): Promise<Outcome> {
  let result: unknown[] = []
  try {
    await run((rows) => {
      result = rows
      throw ROLLBACK
    })
    return outcomeOf(spec, result)
  } catch (error) {
    return error === ROLLBACK ? outcomeOf(spec, result) : errorOutcome(error)
  }
}

/** Runs `spec` as `tenant` through the scoped instance; writes are rolled back. */
export function runScoped(db: Kysely<any>, tenant: ScopedTenant, spec: QuerySpec): Promise<Outcome> {
  return captured(spec, (keep) =>
    runWithTenant(tenant, async () => {
      if (!writes(spec)) keep(await buildQuery(db, spec).execute())
      await db.transaction().execute(async (trx) => keep(await buildQuery(trx, spec).execute()))
    }),
  )
}

/** Where the oracle's copy is, and whether its tables carry the tenant column. */
export interface OracleCopy {
  /** Schema holding only the tenant's rows. Default `oracle`. */
  readonly schema?: string
  /** False for the schema and database models' tables. Default true. */
  readonly tenantColumn?: boolean
}

/** Runs `spec` unscoped on the oracle schema (only `tenant`'s rows), always rolled back. */
export function runOracle(oracleDb: Kysely<any>, tenant: ScopedTenant, spec: QuerySpec, copy: OracleCopy = {}): Promise<Outcome> {
  const { schema = 'oracle', tenantColumn = true } = copy
  return captured(spec, (keep) =>
    oracleDb.transaction().execute(async (trx) => {
      await sql`select set_config('search_path', ${schema}, true)`.execute(trx)
      keep(await buildQuery(trx, spec, tenantColumn ? tenant.id : undefined).execute())
    }),
  )
}

/** Equal rows (as multisets), equal affected counts, or errors with the same code. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.error !== undefined || b.error !== undefined) return a.error !== undefined && b.error !== undefined && a.code === b.code
  if (a.affected !== undefined || b.affected !== undefined) return a.affected === b.affected
  return JSON.stringify(a.rows) === JSON.stringify(b.rows)
}

/** An outcome for a failure message: the error, the count, or the first rows. */
export function describeOutcome(o: Outcome, limit = 12): string {
  if (o.error !== undefined) return `error ${o.code ?? ''}: ${o.error}`
  if (o.affected !== undefined) return `${o.affected} row(s) affected`
  const rows = o.rows ?? []
  const shown = rows.slice(0, limit).map((r) => `    ${r}`)
  return `${rows.length} row(s)${shown.length ? `\n${shown.join('\n')}` : ''}${rows.length > limit ? '\n    …' : ''}`
}

/** The rows of `a` that `b` does not account for (each row of `b` cancels one). */
export function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const counts = new Map<string, number>()
  for (const r of b) counts.set(r, (counts.get(r) ?? 0) + 1)
  return a.filter((r) => {
    const n = counts.get(r) ?? 0
    if (n === 0) return true
    counts.set(r, n - 1)
    return false
  })
}

export interface Verdict {
  readonly scoped: Outcome
  /** Undefined when the scoped result equals the oracle's and carries no foreign tenant id. */
  readonly problem?: string
}

/**
 * Compares the scoped run with the oracle's. The problem text is a complete
 * reproduction: the spec, both compiled statements with parameters, and the rows.
 */
export async function judge(options: {
  db: Kysely<any>
  oracleDb: Kysely<any>
  tenant: ScopedTenant
  foreignTenantIds: readonly string[]
  spec: QuerySpec
  walls: string
  oracle?: OracleCopy
}): Promise<Verdict> {
  const { db, oracleDb, tenant, spec, oracle = {} } = options
  const scoped = await runScoped(db, tenant, spec)
  const expected = await runOracle(oracleDb, tenant, spec, oracle)
  const leaked = foreignRows(scoped, options.foreignTenantIds)
  if (sameOutcome(scoped, expected) && leaked.length === 0) return { scoped }
  const compiled = (() => {
    try {
      return runWithTenant(tenant, () => buildQuery(db, spec).compile())
    } catch (error) {
      return { sql: `(does not compile: ${(error as Error).message})`, parameters: [] }
    }
  })()
  const oracleCompiled = buildQuery(oracleDb, spec, oracle.tenantColumn === false ? undefined : tenant.id).compile()
  return {
    scoped,
    problem: failureReport({
      leaked,
      walls: options.walls,
      tenant,
      spec,
      scoped: compiled,
      oracle: { ...oracleCompiled, label: `search_path ${oracle.schema ?? 'oracle'}` },
      expected,
      actual: scoped,
    }),
  }
}

/** The rows of `outcome` that carry one of `foreignTenantIds`: another tenant's rows. */
export function foreignRows(outcome: Outcome, foreignTenantIds: readonly string[]): string[] {
  return (outcome.rows ?? []).filter((r) => foreignTenantIds.some((id) => r.includes(id)))
}

/** A statement as a failure report shows it, with what it says of how or where it ran. */
export interface ShownStatement {
  readonly sql: string
  readonly parameters: readonly unknown[]
  readonly label?: string
}

/**
 * A judged query's failure as a complete reproduction: what went wrong (a LEAK
 * of foreign rows or of a committed write, or results that differ), the walls
 * and the tenant, how it ran (`context`), the spec, the scoped and the oracle's
 * statements with their parameters, both outcomes and the rows only one of them
 * has. The fuzzers' assertLeakCaught match its shape.
 */
export function failureReport(report: {
  /** The scoped rows that carry another tenant's id. */
  readonly leaked: readonly string[]
  /** What a committed write changed outside the tenant's placement. */
  readonly changed?: readonly string[]
  readonly walls: string
  readonly tenant: ScopedTenant
  /** Lines between the walls and the spec: how the query was run. */
  readonly context?: readonly string[]
  readonly spec: QuerySpec
  readonly scoped: ShownStatement
  readonly oracle: ShownStatement
  readonly expected: Outcome
  readonly actual: Outcome
}): string {
  const { leaked, changed = [], tenant, expected, actual } = report
  const statement = (side: string, shown: ShownStatement): string[] => [
    `${side} SQL${shown.label === undefined ? '' : ` (${shown.label})`}: ${shown.sql}`,
    `  parameters: ${JSON.stringify(shown.parameters)}`,
  ]
  const lines = [
    leaked.length > 0
      ? `LEAK: ${leaked.length} row(s) carry another tenant's id`
      : changed.length > 0 ? `LEAK: B's committed write changed rows outside B's placement: ${changed.join(', ')}` : 'the scoped result differs from the oracle',
    `walls: ${report.walls}; tenant: ${tenant.slug} (${tenant.id}${tenant.isolation ? `, ${tenant.isolation} ${JSON.stringify(tenant.placement ?? {})}` : ''})`,
    ...(report.context ?? []),
    `spec: ${JSON.stringify(report.spec)}`,
    ...statement('scoped', report.scoped),
    ...statement('oracle', report.oracle),
    `expected (oracle): ${describeOutcome(expected)}`,
    `actual (scoped): ${describeOutcome(actual)}`,
  ]
  if (actual.rows && expected.rows) {
    lines.push(`only in actual: ${describeOutcome({ rows: multisetMinus(actual.rows, expected.rows) })}`)
    lines.push(`only in expected: ${describeOutcome({ rows: multisetMinus(expected.rows, actual.rows) })}`)
  }
  return lines.join('\n')
}
