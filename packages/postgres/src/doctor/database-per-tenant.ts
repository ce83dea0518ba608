import type { ScopedTenant } from '@tenantry/core'
import type pg from 'pg'
import type { DatabaseProvisioner } from '../isolation/database/provisioners.ts'
import type { DatabaseKey } from '../pool-router/contract.ts'
import type { PoolRouter } from '../pool-router/pool-router.ts'
import { checkReachableObjects } from './reachable-objects.ts'
import { reportOf, type DoctorFinding, type DoctorReport } from './report.ts'
import { checkRuntimeRole } from './runtime-role.ts'

/** What doctor needs of a database-per-tenant model. */
export interface DatabaseDoctorSubject {
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly runtimeRole: string
  readonly searchPath: readonly string[]
  keyOf(tenant: ScopedTenant): DatabaseKey
}

/**
 * Checks the database model: on every server, the runtime login (not superuser,
 * not BYPASSRLS, nothing privileged it can switch to); in each tenant database
 * given (`tenants`), that the runtime role exists there, owns no table, may
 * create no temporary object, and can reach no definer function or remote link.
 */
export async function doctorDatabasePerTenant(subject: DatabaseDoctorSubject, options: { tenants?: readonly ScopedTenant[] } = {}): Promise<DoctorReport> {
  const findings: DoctorFinding[] = []
  const role = subject.runtimeRole
  const { servers, admin } = subject.provisioner
  if (servers !== undefined && admin !== undefined) {
    for (const server of servers) {
      const own: DoctorFinding[] = []
      await admin(server, (client) => checkRuntimeRole(client, { backend: 'postgres', role, mode: 'login', login: role }, [], own, { temporary: false }))
      findings.push(...own.map((f) => ({ ...f, message: `Server "${server}": ${f.message}` })))
    }
  }
  for (const tenant of options.tenants ?? []) {
    const own: DoctorFinding[] = []
    await subject.router.withClient(subject.keyOf(tenant), (client) => checkTenantDatabase(client, subject, own))
    findings.push(...own.map((f) => ({ ...f, message: `Tenant "${tenant.slug}": ${f.message}` })))
  }
  return reportOf(findings)
}

async function checkTenantDatabase(client: pg.ClientBase, subject: DatabaseDoctorSubject, findings: DoctorFinding[]): Promise<void> {
  const role = subject.runtimeRole
  const exists = (await client.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1
  if (!exists) {
    findings.push({ severity: 'error', check: 'role.missing', message: `Runtime role "${role}" does not exist in this database.`, fix: 'Run the tenant\'s migrations (they install its grants), or DatabasePerTenantIsolation.installWalls()' })
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
    findings.push({ severity: 'error', check: 'role.owner', table: table.name, message: `Runtime role "${role}" owns ${table.name} (or is a member of its owner "${table.owner}").`, fix: `alter table ${table.name} owner to <the owner that runs migrations>` })
  }
  await checkReachableObjects(client, role, tables.map((t) => t.oid), [], findings)
}
