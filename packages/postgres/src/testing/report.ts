import { TenantryError, isTenantryError, type ScopedTenant, type TenantryErrorCode } from '@tenantry/core'

/**
 * One named check of the conformance kit, passed or not.
 *
 * @example
 * { name: 'join.left:projects', table: 'tasks', passed: false, detail: 'leftJoin tasks → projects returned 2 row(s) of tenant A: …' }
 */
export interface ConformanceCheck {
  /** Stable name, e.g. `select.by-primary-key` or `join.left:projects`. */
  readonly name: string
  /** The tenant table the check ran against, when it is about one table. */
  readonly table?: string
  readonly passed: boolean
  /** What was seen (failures always carry one). */
  readonly detail?: string
}

/**
 * Everything `checkTenantIsolation` found.
 *
 * @example
 * const report = await checkTenantIsolation(options)
 * assert.deepEqual(report.failures, [])
 */
export interface ConformanceReport {
  /** True when every check passed. */
  readonly passed: boolean
  readonly checks: readonly ConformanceCheck[]
  readonly failures: readonly ConformanceCheck[]
  /** The two synthetic tenants: A writes rows, B tries to reach them. */
  readonly tenants: { readonly a: ScopedTenant; readonly b: ScopedTenant }
}

/** Collects checks in the order they ran. */
export class CheckLog {
  readonly #checks: ConformanceCheck[] = []

  record(check: ConformanceCheck): void {
    this.#checks.push(check)
  }

  pass(name: string, table: string | undefined, detail?: string): void {
    this.record(withOptional({ name, passed: true }, table, detail))
  }

  fail(name: string, table: string | undefined, detail: string): void {
    this.record(withOptional({ name, passed: false }, table, detail))
  }

  /** Runs one check; a thrown error fails it with the error's message. */
  async run(name: string, table: string | undefined, body: () => Promise<string | undefined>): Promise<void> {
    try {
      const problem = await body()
      if (problem === undefined) this.pass(name, table)
      else this.fail(name, table, problem)
    } catch (error) {
      this.fail(name, table, `threw ${describeError(error)}`)
    }
  }

  report(tenants: ConformanceReport['tenants']): ConformanceReport {
    const checks = [...this.#checks]
    const failures = checks.filter((c) => !c.passed)
    return { passed: failures.length === 0, checks, failures, tenants }
  }
}

function withOptional(base: { name: string; passed: boolean }, table: string | undefined, detail: string | undefined): ConformanceCheck {
  return { ...base, ...(table === undefined ? {} : { table }), ...(detail === undefined ? {} : { detail }) }
}

/**
 * The error and those it wraps (`cause`), outermost first: a client may wrap the
 * database's error in its own (Drizzle's DrizzleQueryError does).
 */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let current = error; current !== undefined && current !== null && chain.length < 8 && !chain.includes(current); current = (current as { cause?: unknown }).cause) {
    chain.push(current)
  }
  return chain
}

const ownSqlState = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** `code: message` for TenantryErrors and PostgreSQL errors (also when wrapped as a `cause`), the message otherwise. */
export function describeError(error: unknown): string {
  for (const inner of causeChain(error)) {
    if (inner instanceof TenantryError) return `${inner.code}: ${inner.message}`
    const sqlState = ownSqlState(inner)
    if (sqlState !== undefined) return `SQLSTATE ${sqlState}: ${inner instanceof Error ? inner.message : String(inner)}`
  }
  return error instanceof Error ? error.message : String(error)
}

/** The SQLSTATE of a PostgreSQL error, if `error` is one or wraps one. */
export function sqlStateOf(error: unknown): string | undefined {
  for (const inner of causeChain(error)) {
    const sqlState = ownSqlState(inner)
    if (sqlState !== undefined) return sqlState
  }
  return undefined
}

/** True when `error` is, or wraps, a TenantryError with this code. */
export function hasTenantryCode(error: unknown, code: TenantryErrorCode): boolean {
  return causeChain(error).some((inner) => isTenantryError(inner, code))
}

/**
 * The failed checks of a report as a readable list, one line each.
 *
 * @example
 * const report = await checkTenantIsolation(options)
 * if (!report.passed) console.error(formatConformanceFailures(report))
 */
export function formatConformanceFailures(report: ConformanceReport): string {
  if (report.passed) return `all ${report.checks.length} tenant isolation checks passed`
  const lines = report.failures.map((c) => `  ✗ ${c.name}${c.table === undefined ? '' : ` [${c.table}]`}: ${c.detail ?? 'failed'}`)
  return `${report.failures.length} of ${report.checks.length} tenant isolation checks failed:\n${lines.join('\n')}`
}

/** Throws ISOLATION_MISCONFIGURED listing the failed checks, unless all passed. */
export function assertReportPassed(report: ConformanceReport): ConformanceReport {
  if (report.passed) return report
  throw new TenantryError('ISOLATION_MISCONFIGURED', formatConformanceFailures(report), { details: report.failures })
}
