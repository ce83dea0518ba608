import pg from 'pg'
import type { ResolvedSharedSchemaOptions } from '../isolation/shared/options.ts'
import { TENANT_POLICY } from '../isolation/shared/rls.ts'
import { reportOf, type DoctorFinding, type DoctorReport } from './report.ts'

interface RoleRow { rolname: string; rolsuper: boolean; rolbypassrls: boolean }
interface TableRow {
  table_name: string
  oid: number | null
  owner: string | null
  rls: boolean | null
  forced: boolean | null
  column_not_null: boolean | null
  column_attnum: number | null
}
interface PolicyRow { table_name: string; polname: string; permissive: boolean; cmd: string; qual: string | null; with_check: string | null }

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

/**
 * Checks that a database is safe for the shared model before it serves traffic:
 * the role tenant transactions run as, and for every tenant table FORCE RLS, the
 * Tenantry policy (and no other permissive policy that would widen it), a NOT NULL
 * tenant column and an index leading with it.
 */
export async function doctorSharedSchema(pool: pg.Pool, options: ResolvedSharedSchemaOptions): Promise<DoctorReport> {
  const findings: DoctorFinding[] = []
  const session = (await pool.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
    'select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user',
  )).rows[0]
  const runtimeName = options.runtimeRole ?? session?.current_user ?? ''
  const runtime = (await pool.query<RoleRow>('select rolname, rolsuper, rolbypassrls from pg_roles where rolname = $1', [runtimeName])).rows[0]

  if (options.walls.rls) {
    if (!runtime) {
      findings.push({ severity: 'error', check: 'role.missing', message: `Runtime role "${runtimeName}" does not exist.`, fix: 'Run install() or create the role NOLOGIN NOSUPERUSER NOBYPASSRLS.' })
    } else {
      if (runtime.rolsuper) findings.push({ severity: 'error', check: 'role.superuser', message: `Runtime role "${runtimeName}" is a superuser, which bypasses row-level security.`, fix: options.runtimeRole === null ? 'Set runtimeRole to a role that is not superuser.' : `alter role ${q(runtimeName)} nosuperuser` })
      if (runtime.rolbypassrls) findings.push({ severity: 'error', check: 'role.bypassrls', message: `Runtime role "${runtimeName}" has BYPASSRLS.`, fix: `alter role ${q(runtimeName)} nobypassrls` })
      if (options.runtimeRole !== null && session && !session.rolsuper) {
        const member = (await pool.query<{ ok: boolean }>("select pg_has_role(current_user, $1, 'MEMBER') as ok", [runtimeName])).rows[0]
        if (!member?.ok) findings.push({ severity: 'error', check: 'role.not_member', message: `The connecting role "${session.current_user}" cannot switch to "${runtimeName}".`, fix: `grant ${q(runtimeName)} to ${q(session.current_user)}` })
      }
    }
    if (session && !session.rolsuper && !session.rolbypassrls) {
      findings.push({ severity: 'warning', check: 'system.restricted', message: `The connecting role "${session.current_user}" is neither superuser nor BYPASSRLS, so system scopes see no tenant rows under FORCE RLS.` })
    }
  }

  const tables = (await pool.query<TableRow>(
    `select t.name as table_name, c.oid::int as oid, pg_get_userbyid(c.relowner) as owner,
            c.relrowsecurity as rls, c.relforcerowsecurity as forced,
            a.attnotnull as column_not_null, a.attnum::int as column_attnum
       from unnest($1::text[]) as t(name)
       left join pg_namespace n on n.nspname = $2
       left join pg_class c on c.relname = t.name and c.relnamespace = n.oid and c.relkind in ('r', 'p')
       left join pg_attribute a on a.attrelid = c.oid and a.attname = $3 and not a.attisdropped`,
    [options.tables, options.schema, options.tenantColumn],
  )).rows
  const policies = (await pool.query<PolicyRow>(
    `select c.relname as table_name, p.polname, p.polpermissive as permissive, p.polcmd::text as cmd,
            pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
       from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = any($2::text[])`,
    [options.schema, options.tables],
  )).rows

  for (const table of tables) {
    const name = table.table_name
    const target = `${q(options.schema)}.${q(name)}`
    if (table.oid === null) {
      findings.push({ severity: 'error', check: 'table.missing', table: name, message: `Tenant table ${options.schema}.${name} does not exist.` })
      continue
    }
    if (table.column_attnum === null) {
      findings.push({ severity: 'error', check: 'column.missing', table: name, message: `Table ${name} has no "${options.tenantColumn}" column.`, fix: `alter table ${target} add column ${q(options.tenantColumn)} uuid not null` })
      continue
    }
    if (!table.column_not_null) findings.push({ severity: 'error', check: 'column.nullable', table: name, message: `${name}.${options.tenantColumn} allows NULL; a row without a tenant belongs to nobody.`, fix: `alter table ${target} alter column ${q(options.tenantColumn)} set not null` })
    const index = (await pool.query<{ ok: boolean }>(
      'select exists (select 1 from pg_index where indrelid = $1 and indkey[0] = $2) as ok',
      [table.oid, table.column_attnum],
    )).rows[0]
    if (!index?.ok) findings.push({ severity: 'error', check: 'index.missing', table: name, message: `Table ${name} has no index leading with ${options.tenantColumn}; every tenant query would scan all tenants' rows.`, fix: `create index on ${target} (${q(options.tenantColumn)})` })
    if (options.walls.rls) checkRls(table, policies.filter((p) => p.table_name === name), options, runtimeName, findings)
  }
  if (options.walls.rls && runtime) {
    for (const table of tables) {
      if (table.owner === null) continue
      const owns = (await pool.query<{ ok: boolean }>("select pg_has_role($1, $2, 'MEMBER') as ok", [runtimeName, table.owner])).rows[0]
      if (table.owner === runtimeName || owns?.ok) {
        findings.push({ severity: 'error', check: 'role.owner', table: table.table_name, message: `Runtime role "${runtimeName}" owns table ${table.table_name} (or is a member of its owner "${table.owner}"), so it could turn RLS off.`, fix: `alter table ${q(options.schema)}.${q(table.table_name)} owner to <a different role>` })
      }
    }
  }
  if (!options.walls.rls) findings.push({ severity: 'warning', check: 'rls.off', message: 'Row-level security is off: the Kysely plugin is the only wall between tenants.' })
  return reportOf(findings)
}

function checkRls(table: TableRow, policies: PolicyRow[], options: ResolvedSharedSchemaOptions, role: string, findings: DoctorFinding[]): void {
  const name = table.table_name
  const target = `${q(options.schema)}.${q(name)}`
  if (!table.rls) findings.push({ severity: 'error', check: 'rls.disabled', table: name, message: `Row-level security is not enabled on ${name}.`, fix: `alter table ${target} enable row level security` })
  if (!table.forced) findings.push({ severity: 'error', check: 'rls.not_forced', table: name, message: `Row-level security is not FORCEd on ${name}, so its owner bypasses it.`, fix: `alter table ${target} force row level security` })
  const mentionsSetting = (expr: string | null): boolean => expr !== null && expr.includes(`current_setting('${options.tenantSetting}'`) && expr.includes(options.tenantColumn)
  const ours = policies.find((p) => p.polname === TENANT_POLICY)
  if (!ours || ours.cmd !== '*' || !mentionsSetting(ours.qual) || !mentionsSetting(ours.with_check)) {
    findings.push({ severity: 'error', check: 'rls.policy', table: name, message: `Table ${name} lacks the Tenantry policy (FOR ALL, USING and WITH CHECK on ${options.tenantSetting}).`, fix: 'Run install() to (re)create the policy.' })
  }
  for (const other of policies) {
    if (other.polname === TENANT_POLICY || !other.permissive) continue
    if (!mentionsSetting(other.qual)) {
      findings.push({ severity: 'error', check: 'rls.extra_permissive', table: name, message: `Permissive policy "${other.polname}" on ${name} does not check the tenant; permissive policies are OR-ed, so it widens what role "${role}" sees.`, fix: `drop policy ${q(other.polname)} on ${target} (or make it AS RESTRICTIVE)` })
    }
  }
}
