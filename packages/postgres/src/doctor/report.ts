import { TenantryError } from '@tenantry/core'

/** One thing doctor found. Errors make the report fail; warnings do not. */
export interface DoctorFinding {
  readonly severity: 'error' | 'warning'
  /** Stable identifier of the check, e.g. `rls.not_forced`. */
  readonly check: string
  readonly table?: string
  readonly message: string
  /** SQL or a configuration change that fixes it. */
  readonly fix?: string
}

export interface DoctorReport {
  readonly ok: boolean
  readonly findings: readonly DoctorFinding[]
}

export function reportOf(findings: readonly DoctorFinding[]): DoctorReport {
  return { ok: !findings.some((f) => f.severity === 'error'), findings }
}

/** Throws ISOLATION_MISCONFIGURED listing every error finding, unless the report is ok. */
export function assertHealthy(report: DoctorReport): void {
  if (report.ok) return
  const errors = report.findings.filter((f) => f.severity === 'error')
  throw new TenantryError(
    'ISOLATION_MISCONFIGURED',
    `Tenantry doctor refused this database (${errors.length} problem${errors.length === 1 ? '' : 's'}): ${errors.map((e) => e.message).join(' ')}`,
    { details: errors },
  )
}
