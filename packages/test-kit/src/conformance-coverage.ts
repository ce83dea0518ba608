import assert from 'node:assert/strict'
import type { IsolationModelName } from '@tenantry/core'
import { formatConformanceFailures, type ConformanceReport } from '@tenantry/postgres/testing'

/** The checks the conformance kit runs for every pair of tenants, whatever their models. */
export const ALWAYS_RUN_CHECKS = [
  'setup.rows', 'select.by-primary-key', 'select.by-filter', 'select.schema-qualified', 'aggregate.count', 'join.inner:projects', 'join.left:projects',
  'join.right:projects', 'join.full:projects', 'subquery.exists:tasks', 'subquery.scalar:tasks', 'reference.cross-tenant', 'update.by-primary-key', 'delete.by-primary-key',
  'a.rows-unchanged', 'a.sees-only-own-rows', 'cleanup',
] as const

/**
 * The failed checks of a report, as `name[table]`, sorted.
 *
 * @example
 * assert.deepEqual(failedCheckNames(report), ['select.schema-qualified[tasks]'])
 */
export function failedCheckNames(report: ConformanceReport): string[] {
  return report.failures.map((c) => `${c.name}${c.table === undefined ? '' : `[${c.table}]`}`).sort()
}

/**
 * Every check the kit runs for tenant A of model `a` and B of model `b` ran,
 * and passed. `groupByTenant`: the run also checks that
 * `aggregate.group-by-tenant` ran exactly when B has a tenant column.
 *
 * @example
 * assertConformanceCoverage(await checkTenantIsolation({ runner, pool, tables, tenants: [a, b] }), 'shared', 'schema')
 */
export function assertConformanceCoverage(report: ConformanceReport, a: IsolationModelName, b: IsolationModelName, options: { groupByTenant?: boolean } = {}): void {
  assert.equal(report.passed, true, formatConformanceFailures(report))
  const names = new Set(report.checks.map((c) => c.name))
  for (const expected of ALWAYS_RUN_CHECKS) assert.ok(names.has(expected), `missing check ${expected}`)
  assert.equal(names.has('insert.foreign-tenant'), b === 'shared', 'insert.foreign-tenant runs when B has a tenant column')
  if (options.groupByTenant) assert.equal(names.has('aggregate.group-by-tenant'), b === 'shared', 'aggregate.group-by-tenant runs when B has a tenant column')
  assert.equal(names.has('insert.own-placement'), a !== 'shared' || b !== 'shared', 'insert.own-placement runs when a tenant is placed')
}
