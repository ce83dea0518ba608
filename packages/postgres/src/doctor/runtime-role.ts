import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import type { PostgresBackend } from '../driver/target.ts'
import type { DoctorFinding } from './report.ts'

/** Who tenant transactions run as, as doctor needs to know it. */
export interface RuntimeSubject {
  readonly backend: PostgresBackend
  /** The runtime role. */
  readonly role: string
  /** `login`: the runtime pool logs in as `login`; `switch`: the owner's pool (logged in as `login`), role switched per transaction. */
  readonly mode: 'login' | 'switch'
  /** The session user of tenant transactions. */
  readonly login: string
}

/** Predefined roles that reach past row-level security or out of the database. */
const DANGEROUS_PREDEFINED = ['pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program', 'pg_read_all_data', 'pg_write_all_data', 'pg_signal_backend']

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

interface RoleRow { rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolreplication: boolean }

/**
 * The checks every model makes of its runtime role, on the database `client`
 * is connected to (as the owner):
 *
 * - `role.missing`, `role.superuser`, `role.bypassrls`, `role.createrole`
 *   (CREATEROLE can grant itself another role), `role.predefined` (a member of
 *   pg_read_all_data, pg_read_server_files, …);
 * - `role.escape`: the login of tenant transactions can switch (SET ROLE,
 *   `set_config('role', …)`) to a superuser, a BYPASSRLS role, the owner of
 *   `ownedTables`, or a role that can read the scope signing key; on PGlite,
 *   always a superuser session, it is a warning;
 * - `role.temporary`: the runtime role may create temporary objects, which
 *   outlive a transaction on a pooled connection;
 * - `role.create`: the runtime role may create schemas, or objects in a schema
 *   (one there could stand in for a function, operator or table your queries name);
 * - `role.settings`: the runtime role or its login has session defaults
 *   (`ALTER ROLE … SET`), which every login starts with.
 */
export async function checkRuntimeRole(
  client: Queryable,
  subject: RuntimeSubject,
  ownerOf: readonly { table: string; owner: string }[],
  findings: DoctorFinding[],
  options: { readonly temporary?: boolean } = {},
): Promise<void> {
  const { role } = subject
  const runtime = (await client.query<RoleRow>(
    'select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication from pg_roles where rolname = $1',
    [role],
  )).rows[0]
  if (runtime === undefined) {
    findings.push({ severity: 'error', check: 'role.missing', message: `Runtime role "${role}" does not exist.`, fix: 'Run install() of the isolation model.' })
    return
  }
  if (runtime.rolsuper) findings.push({ severity: 'error', check: 'role.superuser', message: `Runtime role "${role}" is a superuser, which bypasses row-level security and reaches the server's files.`, fix: `alter role ${q(role)} nosuperuser` })
  if (runtime.rolbypassrls) findings.push({ severity: 'error', check: 'role.bypassrls', message: `Runtime role "${role}" has BYPASSRLS.`, fix: `alter role ${q(role)} nobypassrls` })
  if (runtime.rolcreaterole) findings.push({ severity: 'error', check: 'role.createrole', message: `Runtime role "${role}" has CREATEROLE, so it could grant itself another role.`, fix: `alter role ${q(role)} nocreaterole` })
  const predefined = (await client.query<{ rolname: string }>(
    `select rolname from pg_roles where rolname = any($1::text[]) and pg_has_role($2, oid, 'MEMBER')`,
    [DANGEROUS_PREDEFINED, role],
  )).rows
  for (const row of predefined) {
    findings.push({ severity: 'error', check: 'role.predefined', message: `Runtime role "${role}" is a member of ${row.rolname}, which reaches past row-level security or out of the database.`, fix: `revoke ${q(row.rolname)} from ${q(role)}` })
  }

  const temporary = options.temporary === false
    ? undefined
    : (await client.query<{ ok: boolean }>("select has_database_privilege($1, current_database(), 'TEMPORARY') as ok", [role])).rows[0]
  if (temporary?.ok) {
    findings.push({
      severity: 'error', check: 'role.temporary',
      message: `Runtime role "${role}" may create temporary tables; one left on a pooled connection would be read, or shadow a table, in the next tenant's transaction.`,
      fix: 'revoke temporary on database <this database> from public (install() does it, and grants TEMPORARY back to the owner)',
    })
  }

  const creatable = (await client.query<{ nspname: string }>(
    `select nspname from pg_namespace where has_schema_privilege($1, oid, 'CREATE') and nspname not like 'pg\\_temp\\_%' and nspname not like 'pg\\_toast\\_temp\\_%' order by 1`,
    [role],
  )).rows
  const onDatabase = (await client.query<{ ok: boolean }>("select has_database_privilege($1, current_database(), 'CREATE') as ok", [role])).rows[0]
  if (onDatabase?.ok) {
    findings.push({
      severity: 'error', check: 'role.create',
      message: `Runtime role "${role}" may create schemas in this database: a function or operator in one could stand in for one your queries call.`,
      fix: `revoke create on database <this database> from public, ${q(role)}`,
    })
  }
  for (const { nspname } of creatable) {
    findings.push({
      severity: 'error', check: 'role.create',
      message: `Runtime role "${role}" may create objects in schema "${nspname}": a function or operator there could stand in for one your queries or policies call.`,
      fix: `revoke create on schema ${q(nspname)} from public, ${q(role)}`,
    })
  }

  const settings = (await client.query<{ rolname: string; setconfig: string[] }>(
    `select r.rolname, s.setconfig from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
      where r.rolname = any($1::name[]) and (s.setdatabase = 0 or s.setdatabase = (select oid from pg_database where datname = current_database()))`,
    [[...new Set([role, subject.login])]],
  )).rows
  for (const row of settings) {
    findings.push({
      severity: 'error', check: 'role.settings',
      message: `Role "${row.rolname}" has session defaults (${row.setconfig.join(', ')}): every login of it starts with them, and a tenant's SQL may have set them (ALTER ROLE current_user SET …).`,
      fix: `alter role ${q(row.rolname)} reset all`,
    })
  }

  await checkEscape(client, subject, ownerOf, findings)
}

async function checkEscape(client: Queryable, subject: RuntimeSubject, ownerOf: readonly { table: string; owner: string }[], findings: DoctorFinding[]): Promise<void> {
  const login = subject.login
  if (login !== subject.role) {
    const member = (await client.query<{ ok: boolean }>(
      "select pg_has_role($1, $2, 'MEMBER') or coalesce((select rolsuper from pg_roles where rolname = $1), false) as ok",
      [login, subject.role],
    )).rows[0]
    if (member?.ok !== true) {
      findings.push({ severity: 'error', check: 'role.not_member', message: `Tenant transactions log in as "${login}", which cannot switch to the runtime role "${subject.role}": every tenant query would fail.`, fix: `grant ${q(subject.role)} to ${q(login)}` })
    }
  }
  const reachable = (await client.query<RoleRow & { reads_keys: boolean }>(
    `select r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
            coalesce(to_regclass('tenantry.scope_keys') is not null and has_table_privilege(r.oid, 'tenantry.scope_keys', 'SELECT'), false) as reads_keys
       from pg_roles r where pg_has_role($1, r.oid, 'MEMBER')`,
    [login],
  )).rows
  const severity = subject.backend === 'pglite' ? 'warning' : 'error'
  const how = subject.mode === 'switch'
    ? `Tenant transactions log in as "${login}" and switch to "${subject.role}" per transaction`
    : `Tenant transactions log in as "${login}"`
  const reasons: string[] = []
  for (const r of reachable) {
    if (r.rolsuper) reasons.push(`superuser "${r.rolname}"`)
    else if (r.rolbypassrls) reasons.push(`BYPASSRLS role "${r.rolname}"`)
    else if (r.reads_keys) reasons.push(`"${r.rolname}", which can read the scope signing key`)
    else if (r.rolcreaterole) reasons.push(`"${r.rolname}", which has CREATEROLE`)
  }
  for (const { table, owner } of ownerOf) {
    if (reachable.some((r) => r.rolname === owner)) reasons.push(`"${owner}", the owner of ${table} (it could turn row-level security off)`)
  }
  if (reasons.length === 0) return
  findings.push({
    severity,
    check: 'role.escape',
    message: subject.backend === 'pglite'
      ? `PGlite runs every statement in one superuser session: SQL in a tenant scope that calls set_config('role', …) could leave "${subject.role}". PGlite is for development; use PostgreSQL for the security boundary.`
      : `${how}, and "${login}" can switch to ${[...new Set(reasons)].slice(0, 5).join(', ')}: SQL run in a tenant scope could leave the runtime role.`,
    fix: subject.backend === 'pglite'
      ? 'Use PostgreSQL in production.'
      : `Let tenant transactions log in as the runtime role (the default runtimeLogin on PostgreSQL), or log in as a role that is a member of no privileged role`,
  })
}
