import type { ScopedTenant } from '@tenantry/core'
import type pg from 'pg'
import type { DatabaseKey } from '../pool-router/contract.ts'
import type { PoolRouter } from '../pool-router/pool-router.ts'
import { checkPublicDatabases } from './public-databases.ts'
import { checkReachableObjects } from './reachable-objects.ts'
import { reportOf, type DoctorFinding, type DoctorReport } from './report.ts'
import { checkRuntimeRole } from './runtime-role.ts'

/** What doctor needs of a database-per-tenant model. */
export interface DatabaseDoctorSubject {
  readonly router: PoolRouter
  readonly searchPath: readonly string[]
  readonly trustedFunctions: readonly string[]
  keyOf(tenant: ScopedTenant): DatabaseKey
  /** The role a tenant's transactions run as. */
  roleOf(tenant: ScopedTenant): string
}

/**
 * Checks the database model's tenants given (`tenants`; connecting to every
 * tenant database of a large fleet is the migrator's job, not a boot check): in
 * each one, that the tenant's role exists there, is safe (see
 * `checkRuntimeRole`), owns no table, may connect to no other tenant's
 * database (nor, a warning, to another database through PUBLIC), and can
 * reach no definer function, large object or remote link.
 */
export async function doctorDatabasePerTenant(subject: DatabaseDoctorSubject, options: { tenants?: readonly ScopedTenant[] } = {}): Promise<DoctorReport> {
  const findings: DoctorFinding[] = []
  const tenants = options.tenants ?? []
  const databases = tenants.map((t) => subject.keyOf(t).database)
  for (const tenant of tenants) {
    const own: DoctorFinding[] = []
    const key = subject.keyOf(tenant)
    await subject.router.withClient(key, (client) => checkTenantDatabase(client, subject, subject.roleOf(tenant), databases.filter((d) => d !== key.database), own))
    findings.push(...own.map((f) => ({ ...f, message: `Tenant "${tenant.slug}": ${f.message}` })))
  }
  return reportOf(findings)
}

async function checkTenantDatabase(client: pg.ClientBase, subject: DatabaseDoctorSubject, role: string, others: readonly string[], findings: DoctorFinding[]): Promise<void> {
  const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1
  if (!exists) {
    findings.push({ severity: 'error', check: 'role.missing', message: `The tenant's role "${role}" does not exist.`, fix: 'Provision the tenant again, or run its migrations (they install its grants)' })
    return
  }
  const tables = (await client.query<{ oid: number; name: string; owner: string; runtime_owns: boolean }>(
    `select c.oid::int as oid, c.oid::regclass::text as name, pg_get_userbyid(c.relowner) as owner, pg_has_role($2, c.relowner, 'MEMBER') as runtime_owns
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[]) and c.relkind in ('r', 'p')`,
    [subject.searchPath, role],
  )).rows
  const login = subject.router.separateLogins ? role : ((await client.query<{ u: string }>('select session_user as u')).rows[0]?.u ?? '')
  const backend = subject.router.backend
  await checkRuntimeRole(client, { backend, role, mode: subject.router.separateLogins ? 'login' : 'switch', login }, tables.map((t) => ({ table: t.name, owner: t.owner })), findings)
  for (const table of tables.filter((t) => t.runtime_owns)) {
    findings.push({ severity: 'error', check: 'role.owner', table: table.name, message: `The tenant's role "${role}" owns ${table.name} (or is a member of its owner "${table.owner}").`, fix: `alter table ${table.name} owner to <the owner that runs migrations>` })
  }
  // Another tenant's database the role may connect to (it would still need grants there; CONNECT alone is too much).
  const reachable = (await client.query<{ datname: string }>(
    `select datname from pg_database
      where not datistemplate and datname <> current_database() and has_database_privilege($1, oid, 'CONNECT')
        and (datname = any($2::text[]) or datname ~ '^tenant_[0-9a-f]{32}$')
      order by 1 limit 20`,
    [role, others],
  )).rows
  for (const { datname } of reachable) {
    findings.push({ severity: 'error', check: 'role.other_databases', message: `The tenant's role "${role}" may connect to database "${datname}", another tenant's.`, fix: `revoke connect on database "${datname}" from public, "${role}"` })
  }
  if (backend === 'postgres') await checkPublicDatabases(client, role, reachable.map((r) => r.datname), findings)
  await checkReachableObjects(client, role, tables.map((t) => t.oid), subject.trustedFunctions, findings)
}
