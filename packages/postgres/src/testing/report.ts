import { TenantryError, type ScopedTenant } from '@tenantry/core'

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

/** `code: message` for TenantryErrors and PostgreSQL errors, the message otherwise. */
export function describeError(error: unknown): string {
  if (error instanceof TenantryError) return `${error.code}: ${error.message}`
  const sqlState = sqlStateOf(error)
  const message = error instanceof Error ? error.message : String(error)
  return sqlState === undefined ? message : `SQLSTATE ${sqlState}: ${message}`
}

/** The SQLSTATE of a PostgreSQL error, if `error` is one. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
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
