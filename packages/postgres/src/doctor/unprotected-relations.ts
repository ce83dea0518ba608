import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { rowPrivilegesSql, SECURITY_INVOKER_SQL, viewsOverSql } from './relation-reach.ts'
import type { DoctorFinding } from './report.ts'

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

/** Where to look for relations the runtime role reaches past the model's walls. */
export interface UnprotectedScope {
  readonly runtimeRole: string
  /** The schemas to look in; `undefined`: every schema but PostgreSQL's own. */
  readonly schemas: readonly string[] | undefined
  /** Oids of the tenant tables (and their partitions): their walls are checked on their own. */
  readonly tenantTables: readonly number[]
  /** Oids of relations every tenant may reach on purpose (global tables). */
  readonly exempt: readonly number[]
  /** Ends the message: why the relation is not covered (`is neither a tenant table nor a global one`). */
  readonly notCovered: string
  /** A change that covers it, suggested before revoking (`list it in globalTables …`). */
  readonly cover?: string
}

/** At most this many relations are listed. */
const LIST_LIMIT = 50

/**
 * `table.unprotected`: a relation the runtime role can reach through any
 * privilege that reads or writes rows (`SELECT`, `INSERT`, `UPDATE`, `DELETE`,
 * `TRUNCATE`, on the relation or on some of its columns) and that no wall of
 * the model covers:
 *
 * - a table, partitioned table or foreign table without row-level security;
 * - a view without `security_invoker` (it reads as its owner) over no tenant
 *   table (a view over one is `view.definer`);
 * - a materialized view (no policy at all) over no tenant table (over one it
 *   is `view.materialized`).
 *
 * A view with `security_invoker` is covered: what it reads is checked for
 * itself.
 *
 * @example
 * await checkUnprotectedRelations(pool, { runtimeRole: 'tenantry_app', schemas: undefined, tenantTables, exempt: [], notCovered: 'is not a tenant table' }, findings)
 */
export async function checkUnprotectedRelations(client: Queryable, scope: UnprotectedScope, findings: DoctorFinding[]): Promise<void> {
  const rows = (await client.query<{ schema: string; name: string; kind: string; privileges: string[] }>(
    `${viewsOverSql('$3::oid[]')}, candidates as (
       select c.oid, n.nspname as schema, c.relname as name, c.relkind::text as kind, c.relrowsecurity as rls,
              ${SECURITY_INVOKER_SQL} as invoker, ${rowPrivilegesSql('$1', 'c.oid')} as privileges
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'f', 'v', 'm')
          and case when $2::text[] is null
                   then n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp\\_%'
                   else n.nspname = any($2::text[]) end
          and c.oid <> all($3::oid[]) and c.oid <> all($4::oid[])
     )
     select schema, name, kind, privileges from candidates
      where cardinality(privileges) > 0
        and case kind when 'v' then not invoker and oid not in (select view_oid from reaches)
                      when 'm' then oid not in (select view_oid from reaches)
                      else not rls end
      order by 1, 2 limit ${LIST_LIMIT}`,
    [scope.runtimeRole, scope.schemas ?? null, scope.tenantTables, scope.exempt],
  )).rows
  const role = q(scope.runtimeRole)
  for (const row of rows) {
    const name = `${row.schema}.${row.name}`
    const quoted = `${q(row.schema)}.${q(row.name)}`
    const what = row.kind === 'v' ? `view ${name}, which reads with its owner's rights (no security_invoker),`
      : row.kind === 'm' ? `materialized view ${name}, which has no row-level security,`
        : row.kind === 'f' ? `foreign table ${name}, which has no row-level security,`
          : `${name}, which has no row-level security,`
    const revoke = `revoke all on ${quoted} from public, ${role} (column grants go with it; a grant to a role "${scope.runtimeRole}" is a member of must be revoked there)`
    findings.push({
      severity: 'error', check: 'table.unprotected', table: name,
      message: `Runtime role "${scope.runtimeRole}" can reach ${what} through ${row.privileges.join(', ')}, and it ${scope.notCovered}.`,
      fix: [row.kind === 'v' ? `alter view ${quoted} set (security_invoker = true)` : undefined, scope.cover, revoke].filter((s) => s !== undefined).join('; or '),
    })
  }
}

/**
 * `table.truncate`: the runtime role may TRUNCATE a tenant table. TRUNCATE is
 * not subject to row-level security, so one tenant's SQL could empty every
 * tenant's rows.
 *
 * @example
 * await checkTruncate(pool, 'tenantry_app', tenantTableOids, findings)
 */
export async function checkTruncate(client: Queryable, runtimeRole: string, tenantTables: readonly number[], findings: DoctorFinding[]): Promise<void> {
  const rows = (await client.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.oid = any($2::oid[]) and has_table_privilege($1, c.oid, 'TRUNCATE')
      order by 1, 2 limit ${LIST_LIMIT}`,
    [runtimeRole, tenantTables],
  )).rows
  for (const row of rows) {
    findings.push({
      severity: 'error', check: 'table.truncate', table: `${row.schema}.${row.name}`,
      message: `Runtime role "${runtimeRole}" may TRUNCATE tenant table ${row.schema}.${row.name}; TRUNCATE is not subject to row-level security, so one tenant's SQL could empty every tenant's rows.`,
      fix: `revoke truncate on ${q(row.schema)}.${q(row.name)} from public, ${q(runtimeRole)}`,
    })
  }
}
