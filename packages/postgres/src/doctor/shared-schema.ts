import pg from 'pg'
import type { PostgresTarget } from '../driver/target.ts'
import type { ResolvedSharedSchemaOptions } from '../isolation/shared/options.ts'
import { isTenantDefault, TENANT_POLICY, tenantPolicyExpressions } from '../isolation/shared/rls.ts'
import type { RuntimeAccess } from '../walls/runtime-login.ts'
import { checkGuard } from './guard.ts'
import { probePolicyText, type PolicyText } from './policy-probe.ts'
import { checkPublicDatabases } from './public-databases.ts'
import { checkReachableObjects } from './reachable-objects.ts'
import { reachesRowsSql } from './relation-reach.ts'
import { reportOf, type DoctorFinding, type DoctorReport } from './report.ts'
import { checkRuntimeRole } from './runtime-role.ts'
import { checkTenantForeignKeys } from './tenant-foreign-keys.ts'
import { checkTruncate, checkUnprotectedRelations } from './unprotected-relations.ts'

/** What doctor needs of a shared-schema model. */
export interface SharedDoctorSubject {
  readonly target: PostgresTarget
  readonly options: ResolvedSharedSchemaOptions
  readonly runtime: RuntimeAccess
}

interface TableRow {
  table_name: string
  oid: number | null
  owner: string | null
  rls: boolean | null
  forced: boolean | null
  column_not_null: boolean | null
  column_attnum: number | null
  column_default: string | null
  parent: string | null
  reachable: boolean
}
interface PolicyRow { oid: number; polname: string; permissive: boolean; cmd: string; public_only: boolean; qual: string | null; with_check: string | null }
interface UniqueRow { oid: number; index: string; has_tenant: boolean; generated: boolean | null; assigned: boolean | null }

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

/**
 * Checks that a database is safe for the shared model before it serves traffic:
 * the runtime role and what its login can switch to, the scope guard, and for
 * every tenant table (and partition) FORCE RLS with exactly the Tenantry policy
 * and no other permissive one, a NOT NULL tenant column, an index leading with
 * it, no unique index that spans tenants, no foreign key between tenant
 * tables that leaves the tenant column out (a warning); no view, materialized
 * view, definer function or remote link through which the runtime role could
 * read tenant rows past the policy, no relation it reaches (through any
 * privilege, on a table or a column) that no wall covers, and no TRUNCATE on a
 * tenant table. See docs/doctor.md.
 */
export async function doctorSharedSchema(subject: SharedDoctorSubject): Promise<DoctorReport> {
  const { options, runtime } = subject
  const pool = subject.target.pool
  const findings: DoctorFinding[] = []
  const role = options.runtimeRole
  const rls = options.walls.rls
  const session = (await pool.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
    'select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user',
  )).rows[0]

  const roleExists = (await pool.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1
  const tables = (await pool.query<TableRow>(
    `with recursive listed as (
       select t.name as table_name, c.oid, null::text as parent
         from unnest($1::text[]) as t(name)
         left join pg_namespace n on n.nspname = $2
         left join pg_class c on c.relname = t.name and c.relnamespace = n.oid and c.relkind in ('r', 'p')
     ), children(table_name, oid, parent) as (
       select i.inhrelid::regclass::text, i.inhrelid, l.table_name from listed l join pg_inherits i on i.inhparent = l.oid
       union
       select i.inhrelid::regclass::text, i.inhrelid, ch.parent from children ch join pg_inherits i on i.inhparent = ch.oid
     )
     select x.table_name, x.oid::int as oid, pg_get_userbyid(c.relowner) as owner,
            c.relrowsecurity as rls, c.relforcerowsecurity as forced,
            a.attnotnull as column_not_null, a.attnum::int as column_attnum, pg_get_expr(d.adbin, d.adrelid) as column_default, x.parent,
            coalesce(${reachesRowsSql('$4::name', 'x.oid')}, false) as reachable
       from (select * from listed union all select * from children) x
       left join pg_class c on c.oid = x.oid
       left join pg_attribute a on a.attrelid = x.oid and a.attname = $3 and not a.attisdropped
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum`,
    [options.tables, options.schema, options.tenantColumn, roleExists ? role : null],
  )).rows
  const present = tables.filter((t) => t.oid !== null)

  if (!roleExists) {
    findings.push({ severity: 'error', check: 'role.missing', message: `Runtime role "${role}" does not exist.`, fix: 'Run install() of the isolation model.' })
  } else if (rls) {
    const owners = present.filter((t) => t.owner !== null).map((t) => ({ table: t.table_name, owner: t.owner as string }))
    await checkRuntimeRole(pool, { backend: subject.target.backend, role, mode: runtime.mode, login: await runtime.sessionUser() }, owners, findings)
    await checkGuard(pool, role, findings)
    if (session && !session.rolsuper && !session.rolbypassrls) {
      findings.push({ severity: 'warning', check: 'system.restricted', message: `The connecting role "${session.current_user}" is neither superuser nor BYPASSRLS, so system scopes see no tenant rows under FORCE RLS.` })
    }
  }
  const missingPath = (await pool.query<{ name: string }>('select name from unnest($1::text[]) as s(name) where to_regnamespace(quote_ident(name)) is null', [options.searchPath])).rows
  for (const { name } of missingPath) {
    findings.push({ severity: 'error', check: 'search_path.missing', message: `Schema "${name}" of the tenant search_path does not exist; every tenant query would fail.`, fix: `create schema ${q(name)}, or remove it from searchPath` })
  }

  // A relation named like a tenant table in another schema of the search_path could be
  // read instead of it by unqualified SQL the plugin cannot see into.
  const shadows = (await pool.query<{ name: string }>(
    `select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = any($1::text[]) and n.nspname = any($2::text[]) and n.nspname <> $3 and c.relkind in ('r', 'p', 'v', 'm', 'f')`,
    [options.tables, options.searchPath, options.schema],
  )).rows
  for (const { name } of shadows) {
    findings.push({
      severity: 'error', check: 'search_path.shadow', table: name,
      message: `${name} has a tenant table's name and its schema is on the tenant search_path: SQL naming the table unqualified may read it, with no tenant policy.`,
      fix: `rename or drop ${name}, or take its schema off searchPath`,
    })
  }

  const oids = present.map((t) => t.oid as number)
  const policies = (await pool.query<PolicyRow>(
    `select p.polrelid::int as oid, p.polname, p.polpermissive as permissive, p.polcmd::text as cmd, p.polroles = '{0}'::oid[] as public_only,
            pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
       from pg_policy p where p.polrelid = any($1::oid[])`,
    [oids],
  )).rows
  const uniques = (await pool.query<UniqueRow>(
    `select i.indrelid::int as oid, i.indexrelid::regclass::text as index,
            coalesce(bool_or(a.attname = $2), false) as has_tenant,
            bool_and(t.typname = 'uuid' or a.attidentity = 'a') as generated,
            bool_and(t.typname = 'uuid' or a.attidentity in ('a', 'd') or pg_get_expr(d.adbin, d.adrelid) like 'nextval(%') as assigned
       from pg_index i
       cross join lateral unnest(i.indkey::int2[]) as k(attnum)
       left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
       left join pg_type t on t.oid = a.atttypid
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where i.indrelid = any($1::oid[]) and i.indisunique
      group by 1, 2`,
    [oids, options.tenantColumn],
  )).rows
  const expected = rls ? await expectedPolicy(pool, options.tenantColumn, findings) : undefined

  for (const table of tables) {
    const name = table.table_name
    const child = table.parent !== null
    const target = child ? name : `${q(options.schema)}.${q(name)}`
    if (table.oid === null) {
      findings.push({ severity: 'error', check: 'table.missing', table: name, message: `Tenant table ${options.schema}.${name} does not exist.`, fix: 'Run the migrations that create it before install() and doctor().' })
      continue
    }
    if (table.column_attnum === null) {
      findings.push({ severity: 'error', check: 'column.missing', table: name, message: `Table ${name} has no "${options.tenantColumn}" column.`, fix: `alter table ${target} add column ${q(options.tenantColumn)} uuid not null` })
      continue
    }
    if (!child) {
      if (!table.column_not_null) findings.push({ severity: 'error', check: 'column.nullable', table: name, message: `${name}.${options.tenantColumn} allows NULL; a row without a tenant belongs to nobody.`, fix: `alter table ${target} alter column ${q(options.tenantColumn)} set not null` })
      checkTenantDefault(table, target, options, findings)
      const index = (await pool.query<{ ok: boolean }>(
        'select exists (select 1 from pg_index where indrelid = $1 and indkey[0] = $2) as ok',
        [table.oid, table.column_attnum],
      )).rows[0]
      if (!index?.ok) findings.push({ severity: 'error', check: 'index.missing', table: name, message: `Table ${name} has no index leading with ${options.tenantColumn}; every tenant query would scan all tenants' rows.`, fix: `create index on ${target} (${q(options.tenantColumn)})` })
      for (const unique of uniques.filter((u) => u.oid === table.oid && !u.has_tenant && u.generated !== true)) {
        // A key the database assigns (a sequence) answers only for an id a tenant writes on purpose: a warning.
        findings.push({
          severity: unique.assigned === true ? 'warning' : 'error', check: 'index.global_unique', table: name,
          message: `Unique index ${unique.index} on ${name} does not include ${options.tenantColumn}: an insert that collides tells a tenant that another tenant uses that value${unique.assigned === true ? ' (here a sequence-assigned key: only an explicitly written id can collide; prefer a uuid or GENERATED ALWAYS AS IDENTITY)' : ''}.`,
          fix: `create unique index on ${target} (${q(options.tenantColumn)}, …the same columns); drop index ${unique.index}`,
        })
      }
    }
    // A child read directly gets no policy from its parent: it needs its own, or no grant at all.
    if (rls && (!child || table.reachable)) checkRls(table, target, policies.filter((p) => p.oid === table.oid), expected, role, findings)
  }

  await checkTenantForeignKeys(pool, oids, options.tenantColumn, findings)

  if (rls && roleExists) {
    for (const table of present) {
      if (table.owner === null) continue
      const owns = (await pool.query<{ ok: boolean }>("select pg_has_role($1, $2, 'MEMBER') as ok", [role, table.owner]).catch(() => ({ rows: [{ ok: false }] }))).rows[0]
      if (table.owner === role || owns?.ok) {
        findings.push({ severity: 'error', check: 'role.owner', table: table.table_name, message: `Runtime role "${role}" owns table ${table.table_name} (or is a member of its owner "${table.owner}"), so it could turn RLS off.`, fix: `alter table ${q(options.schema)}.${q(table.table_name)} owner to <a different role>` })
      }
    }
    await checkReachableObjects(pool, role, oids, options.trustedFunctions, findings)
    await checkTruncate(pool, role, oids, findings)
    // What the runtime role can reach with no policy at all must be a global table, on purpose.
    const exempt = (await pool.query<{ oid: number }>(
      `select c.oid::int as oid from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = any($2::text[])`,
      [options.schema, options.globalTables],
    )).rows.map((r) => r.oid)
    await checkUnprotectedRelations(pool, {
      runtimeRole: role, schemas: undefined, tenantTables: oids, exempt,
      notCovered: 'is neither a tenant table nor a global one of this model',
      cover: `list it in globalTables if every tenant may read all of it, or in tables (with ${options.tenantColumn})`,
    }, findings)
    if (subject.target.backend === 'postgres') await checkPublicDatabases(pool, role, [], findings)
  } else if (!rls) {
    findings.push({ severity: 'warning', check: 'rls.off', message: 'Row-level security is off: the Kysely plugin is the only wall between tenants.' })
  }
  return reportOf(findings)
}

/**
 * The tenant column's default: with `tenantDefault`, the scope's tenant
 * (`tenantry_guard.tenant()`), so inserts that leave it out (an ORM over the
 * scoped pool) land in the current tenant. Any other default is a warning: the
 * policy's WITH CHECK refuses a row it puts in another tenant, but such inserts
 * fail instead of landing in their tenant.
 */
function checkTenantDefault(table: TableRow, target: string, options: ResolvedSharedSchemaOptions, findings: DoctorFinding[]): void {
  const printed = table.column_default
  if (isTenantDefault(printed)) return
  const column = q(options.tenantColumn)
  if (printed !== null) {
    findings.push({
      severity: 'warning', check: 'column.default', table: table.table_name,
      message: `${table.table_name}.${options.tenantColumn} defaults to ${printed}, not to the scope's tenant: an insert that leaves it out is refused by the tenant policy unless that value is the current tenant.`,
      fix: options.tenantDefault ? 'Run install() to set the default to tenantry_guard.tenant()' : `alter table ${target} alter column ${column} drop default (or turn tenantDefault on and run install())`,
    })
  } else if (options.tenantDefault && options.walls.rls) {
    findings.push({
      severity: 'warning', check: 'column.default', table: table.table_name,
      message: `${table.table_name}.${options.tenantColumn} has no default, though tenantDefault is on: inserts through tenantry.pool or an ORM must name the tenant.`,
      fix: 'Run install() (it sets the default to tenantry_guard.tenant())',
    })
  }
}

async function expectedPolicy(pool: pg.Pool, column: string, findings: DoctorFinding[]): Promise<PolicyText | undefined> {
  // No guard yet (install() never ran): guard.missing says so; the policies cannot be compared with anything.
  const guard = (await pool.query<{ present: boolean }>("select to_regnamespace('tenantry_guard') is not null as present")).rows[0]
  if (guard?.present !== true) return undefined
  const { using, check } = tenantPolicyExpressions(column)
  const text = await probePolicyText(pool, column, using, check)
  if (text === undefined) {
    findings.push({ severity: 'error', check: 'doctor.probe', message: 'doctor could not create a temporary table to learn the exact policy text, so it cannot verify the policies.', fix: 'grant temporary on database <this database> to <the role doctor connects as>' })
  }
  return text
}

function checkRls(table: TableRow, target: string, policies: PolicyRow[], expected: PolicyText | undefined, role: string, findings: DoctorFinding[]): void {
  const name = table.table_name
  if (!table.rls) findings.push({ severity: 'error', check: 'rls.disabled', table: name, message: `Row-level security is not enabled on ${name}.`, fix: `alter table ${target} enable row level security` })
  if (!table.forced) findings.push({ severity: 'error', check: 'rls.not_forced', table: name, message: `Row-level security is not FORCEd on ${name}, so its owner bypasses it.`, fix: `alter table ${target} force row level security` })
  const ours = policies.find((p) => p.polname === TENANT_POLICY)
  const exact = ours !== undefined && ours.permissive && ours.cmd === '*' && ours.public_only
    && expected !== undefined && ours.qual === expected.using && ours.with_check === expected.check
  if (!exact && (expected !== undefined || ours === undefined)) {
    findings.push({
      severity: 'error', check: 'rls.policy', table: name,
      message: ours === undefined
        ? `Table ${name} lacks the Tenantry policy "${TENANT_POLICY}".`
        : `The Tenantry policy on ${name} is not the one install() writes (USING ${ours.qual ?? 'none'}, WITH CHECK ${ours.with_check ?? 'none'}${ours.public_only ? '' : ', limited to some roles'}${ours.cmd === '*' ? '' : `, only for ${ours.cmd}`}).`,
      fix: 'Run install() to (re)create the policy.',
    })
  }
  for (const other of policies) {
    if (other.polname === TENANT_POLICY || !other.permissive) continue
    findings.push({
      severity: 'error', check: 'rls.extra_permissive', table: name,
      message: `Permissive policy "${other.polname}" on ${name} is OR-ed with the tenant policy, so whatever it admits, role "${role}" sees across tenants.`,
      fix: `drop policy ${q(other.polname)} on ${target} (or make it AS RESTRICTIVE: restrictive policies can only narrow)`,
    })
  }
}
