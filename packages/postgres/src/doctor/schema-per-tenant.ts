import pg from 'pg'
import type { PostgresTarget } from '../driver/target.ts'
import { SCHEMA_TENANT_POLICY, schemaPolicyExpression } from '../isolation/schema/schema-walls.ts'
import type { RuntimeAccess } from '../walls/runtime-login.ts'
import { checkGuard } from './guard.ts'
import { probePolicyText } from './policy-probe.ts'
import { checkPublicDatabases } from './public-databases.ts'
import { checkReachableObjects } from './reachable-objects.ts'
import { reportOf, type DoctorFinding, type DoctorReport } from './report.ts'
import { checkRuntimeRole } from './runtime-role.ts'
import { checkTruncate, checkUnprotectedRelations } from './unprotected-relations.ts'

/** What doctor needs of a schema-per-tenant model. */
export interface SchemaDoctorSubject {
  readonly target: PostgresTarget
  readonly runtimeRole: string
  readonly runtime: RuntimeAccess
  readonly trustedFunctions: readonly string[]
  /** The schemas' sequences are granted to the runtime role on purpose (serial columns). */
  readonly sequenceGrants: boolean
}

interface SchemaRow { schema: string; tenant_id: string }
interface TableRow { oid: number; schema: string; name: string; rls: boolean; forced: boolean; owner: string }
interface PolicyRow { oid: number; polname: string; permissive: boolean; cmd: string; public_only: boolean; qual: string | null; with_check: string | null }

const q = (identifier: string): string => pg.escapeIdentifier(identifier)
const PLACEHOLDER = '00000000-0000-4000-8000-000000000000'
/** At most this many findings per check are listed; the rest are counted. */
const LIST_LIMIT = 20

/**
 * Checks the schema model: the runtime role and its login, the scope guard,
 * and every table of every tenant schema (from the catalog's placements, and
 * any `tenant_<32 hex>` schema): RLS enabled and FORCEd with exactly that
 * tenant's policy and no other permissive one; no view, materialized view,
 * definer function or remote link through which the runtime role could read a
 * tenant schema past its policy; no other relation in a tenant schema it can
 * reach (a foreign table, a view or materialized view over no tenant table),
 * and no TRUNCATE on a tenant table.
 */
export async function doctorSchemaPerTenant(subject: SchemaDoctorSubject): Promise<DoctorReport> {
  const pool = subject.target.pool
  const role = subject.runtimeRole
  const findings: DoctorFinding[] = []
  const roleExists = (await pool.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1
  const schemas = await tenantSchemas(pool)
  const tables = (await pool.query<TableRow>(
    `select c.oid::int as oid, n.nspname as schema, c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
            pg_get_userbyid(c.relowner) as owner
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[]) and c.relkind in ('r', 'p')`,
    [schemas.map((s) => s.schema)],
  )).rows
  if (!roleExists) {
    findings.push({ severity: 'error', check: 'role.missing', message: `Runtime role "${role}" does not exist.`, fix: 'Run install() of the isolation model.' })
    return reportOf(findings)
  }
  const owners = [...new Set(tables.map((t) => t.owner))].map((owner) => ({ table: 'the tenant schemas\' tables', owner }))
  await checkRuntimeRole(pool, { backend: subject.target.backend, role, mode: subject.runtime.mode, login: await subject.runtime.sessionUser() }, owners, findings)
  await checkGuard(pool, role, findings)
  for (const owner of owners) {
    const owns = (await pool.query<{ ok: boolean }>("select pg_has_role($1, $2, 'MEMBER') as ok", [role, owner.owner])).rows[0]
    if (owns?.ok) findings.push({ severity: 'error', check: 'role.owner', message: `Runtime role "${role}" owns tables of tenant schemas (or is a member of their owner "${owner.owner}"), so it could turn RLS off.`, fix: 'alter table … owner to <a different role>' })
  }

  const policies = (await pool.query<PolicyRow>(
    `select p.polrelid::int as oid, p.polname, p.polpermissive as permissive, p.polcmd::text as cmd, p.polroles = '{0}'::oid[] as public_only,
            pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
       from pg_policy p where p.polrelid = any($1::oid[])`,
    [tables.map((t) => t.oid)],
  )).rows
  const byTable = new Map<number, PolicyRow[]>()
  for (const policy of policies) byTable.set(policy.oid, [...(byTable.get(policy.oid) ?? []), policy])
  const expression = schemaPolicyExpression(PLACEHOLDER)
  const probe = await probePolicyText(pool, 'id', expression, expression)
  if (probe === undefined) {
    findings.push({ severity: 'error', check: 'doctor.probe', message: 'doctor could not create a temporary table to learn the exact policy text, so it cannot verify the policies.', fix: 'grant temporary on database <this database> to <the role doctor connects as>' })
  }
  const tenantOf = new Map(schemas.map((s) => [s.schema, s.tenant_id]))
  const problems: Record<string, DoctorFinding[]> = {}
  const add = (finding: DoctorFinding): void => {
    ;(problems[finding.check] ??= []).push(finding)
  }
  for (const table of tables) {
    const name = `${table.schema}.${table.name}`
    const target = `${q(table.schema)}.${q(table.name)}`
    const tenantId = tenantOf.get(table.schema) as string
    if (!table.rls) add({ severity: 'error', check: 'rls.disabled', table: name, message: `Row-level security is not enabled on ${name}, so other tenants' scopes can read it.`, fix: `alter table ${target} enable row level security` })
    if (!table.forced) add({ severity: 'error', check: 'rls.not_forced', table: name, message: `Row-level security is not FORCEd on ${name}, so its owner's functions and views bypass it.`, fix: `alter table ${target} force row level security` })
    const own = byTable.get(table.oid) ?? []
    const ours = own.find((p) => p.polname === SCHEMA_TENANT_POLICY)
    const expected = probe === undefined ? undefined : probe.using.replaceAll(PLACEHOLDER, tenantId)
    const exact = ours !== undefined && ours.permissive && ours.cmd === '*' && ours.public_only && ours.qual === expected && ours.with_check === expected
    if (!exact && (probe !== undefined || ours === undefined)) {
      add({ severity: 'error', check: 'rls.policy', table: name, message: `Table ${name} lacks the tenant policy "${SCHEMA_TENANT_POLICY}" for its tenant ${tenantId}, or it was altered.`, fix: 'Run the tenant\'s migrations, or SchemaPerTenantIsolation.installWalls(), to (re)create it.' })
    }
    for (const other of own) {
      if (other.polname === SCHEMA_TENANT_POLICY || !other.permissive) continue
      add({ severity: 'error', check: 'rls.extra_permissive', table: name, message: `Permissive policy "${other.polname}" on ${name} is OR-ed with the tenant policy, so whatever it admits, other tenants' scopes see.`, fix: `drop policy ${q(other.polname)} on ${target}` })
    }
  }
  for (const list of Object.values(problems)) {
    findings.push(...list.slice(0, LIST_LIMIT))
    if (list.length > LIST_LIMIT) {
      const first = list[0] as DoctorFinding
      findings.push({ severity: 'error', check: first.check, message: `…and ${list.length - LIST_LIMIT} more tables with the same problem.`, fix: first.fix })
    }
  }
  await checkSequences(pool, subject, schemas.map((s) => s.schema), findings)
  const oids = tables.map((t) => t.oid)
  await checkReachableObjects(pool, role, oids, subject.trustedFunctions, findings)
  await checkTruncate(pool, role, oids, findings)
  // One runtime role reaches every tenant schema: what in one has no tenant policy, every tenant reaches.
  await checkUnprotectedRelations(pool, {
    runtimeRole: role, schemas: schemas.map((s) => s.schema), tenantTables: oids, exempt: [],
    notCovered: 'is in a tenant schema, where every tenant\'s scope reaches it',
  }, findings)
  if (subject.target.backend === 'postgres') await checkPublicDatabases(pool, role, [], findings)
  return reportOf(findings)
}

/**
 * Sequences have no row-level security, and one runtime role serves every tenant
 * schema: a grant on one lets any tenant's SQL advance it (and count another
 * tenant's rows). Identity columns need no grant; a `serial` one does.
 */
async function checkSequences(pool: pg.Pool, subject: SchemaDoctorSubject, schemas: readonly string[], findings: DoctorFinding[]): Promise<void> {
  const role = subject.runtimeRole
  const reachable = (await pool.query<{ n: number }>(
    `select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'S' and n.nspname = any($1::text[]) and (has_sequence_privilege($2, c.oid, 'USAGE') or has_sequence_privilege($2, c.oid, 'SELECT'))`,
    [schemas, role],
  )).rows[0]?.n ?? 0
  if (reachable > 0) {
    findings.push({
      severity: subject.sequenceGrants ? 'warning' : 'error', check: 'sequence.reachable',
      message: `Runtime role "${role}" may use ${reachable} sequence(s) of tenant schemas: any tenant's SQL could advance another tenant's ids, or count its rows.`,
      fix: 'Use generated always as identity columns (they need no grant) and run the tenants\' walls again without sequenceGrants',
    })
  }
  if (subject.sequenceGrants) return
  const serial = (await pool.query<{ name: string }>(
    `select c.oid::regclass::text || '.' || a.attname as name
       from pg_attrdef d join pg_class c on c.oid = d.adrelid join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
      where n.nspname = any($1::text[]) and pg_get_expr(d.adbin, d.adrelid) like 'nextval(%'
      order by 1 limit ${LIST_LIMIT}`,
    [schemas],
  )).rows
  for (const { name } of serial) {
    findings.push({
      severity: 'error', check: 'sequence.serial', table: name,
      message: `Column ${name} takes its default from a sequence (serial): inserts need a grant on it, which would let every tenant advance it.`,
      fix: 'Make it generated always (or by default) as identity; or, accepting the risk, pass sequenceGrants: true',
    })
  }
}

/**
 * The tenant schemas: placements in the catalog (if there is one here),
 * `tenant_<32 hex>` schemas, and any schema whose tables carry the tenant
 * policy. Where they disagree on a schema's tenant, the catalog wins, then the
 * name: a policy naming another tenant is what doctor is there to catch.
 */
async function tenantSchemas(pool: pg.Pool): Promise<SchemaRow[]> {
  const hasCatalog = (await pool.query<{ ok: boolean }>("select to_regclass('tenantry.tenants') is not null as ok")).rows[0]?.ok === true
  const fromCatalog = hasCatalog
    ? `select coalesce(placement->>'schema', 'tenant_' || replace(id::text, '-', '')), id::text, 1
         from tenantry.tenants where isolation = 'schema' and status <> 'deleted'
       union all `
    : ''
  return (await pool.query<SchemaRow>(
    `select distinct on (schema) schema, tenant_id from (
       ${fromCatalog}
       select nspname, regexp_replace(substr(nspname, 8), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5'), 2
         from pg_namespace where nspname ~ '^tenant_[0-9a-f]{32}$'
       union all
       select n.nspname, substring(pg_get_expr(p.polqual, p.polrelid) from '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'), 3
         from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
        where p.polname = '${SCHEMA_TENANT_POLICY}'
     ) s(schema, tenant_id, priority)
     where to_regnamespace(quote_ident(schema)) is not null and tenant_id is not null
     order by schema, priority`,
  )).rows
}
