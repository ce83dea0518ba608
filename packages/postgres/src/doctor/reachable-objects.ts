import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { GUARD_SCHEMA } from '../walls/guard-sql.ts'
import { reachesRowsSql, rowPrivilegesSql, SECURITY_INVOKER_SQL, viewsOverSql } from './relation-reach.ts'
import type { DoctorFinding } from './report.ts'

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

/**
 * Finds what the runtime role can reach that returns tenant rows without the
 * tenant policy applying:
 *
 * - `view.definer`: a view over a protected table (directly or through other
 *   views) without `security_invoker`: it reads (and, if updatable, writes) the
 *   table as the view's owner, which may be a superuser, BYPASSRLS or the
 *   table's owner;
 * - `view.materialized`: a materialized view over a protected table: its rows
 *   were copied when it was refreshed, with no policy at all;
 * - `function.definer`: a SECURITY DEFINER function the runtime role may call
 *   (outside pg_catalog, but the two guard functions), unless its exact
 *   signature is listed as trusted: it runs as its owner;
 * - `function.leakproof`: a LEAKPROOF function outside pg_catalog (it may see
 *   rows before the policy filters them);
 * - `largeobject.reachable`: the large-object functions (large objects are
 *   per database, readable by whoever owns them: the one runtime role);
 * - `extension.remote`: dblink functions or a foreign server the runtime role
 *   may use, which reach other databases.
 *
 * A view counts when the runtime role holds any privilege on it that reads or
 * writes rows, on the view or on one of its columns (`grant select (c)`).
 * `protectedTables` are the oids of the tables that hold tenant rows.
 */
export async function checkReachableObjects(
  client: Queryable,
  runtimeRole: string,
  protectedTables: readonly number[],
  trustedFunctions: readonly string[],
  findings: DoctorFinding[],
): Promise<void> {
  const views = (await client.query<{ schema: string; name: string; kind: string; invoker: boolean; privileges: string[] }>(
    `${viewsOverSql('$1::oid[]')}
     select n.nspname as schema, c.relname as name, c.relkind::text as kind, ${SECURITY_INVOKER_SQL} as invoker,
            ${rowPrivilegesSql('$2', 'c.oid')} as privileges
       from reaches r join pg_class c on c.oid = r.view_oid join pg_namespace n on n.oid = c.relnamespace
      where ${reachesRowsSql('$2', 'c.oid')}
      order by 1, 2`,
    [protectedTables, runtimeRole],
  )).rows
  for (const view of views) {
    const name = `${q(view.schema)}.${q(view.name)}`
    if (view.kind === 'm') {
      findings.push({
        severity: 'error', check: 'view.materialized', table: `${view.schema}.${view.name}`,
        message: `Materialized view ${view.schema}.${view.name} holds rows of tenant tables with no row-level security, and runtime role "${runtimeRole}" can reach it (${view.privileges.join(', ')}).`,
        fix: `revoke all on ${name} from public, ${q(runtimeRole)} (read it in a system scope, or keep one per tenant)`,
      })
    } else if (!view.invoker) {
      findings.push({
        severity: 'error', check: 'view.definer', table: `${view.schema}.${view.name}`,
        message: `View ${view.schema}.${view.name} reads tenant tables with its owner's rights (no security_invoker), and runtime role "${runtimeRole}" can reach it (${view.privileges.join(', ')}): the tenant policy may not apply.`,
        fix: `alter view ${name} set (security_invoker = true)`,
      })
    }
  }

  // Only the two guard functions are Tenantry's own; anything else in their schema is not.
  const definers = (await client.query<{ schema: string; name: string; signature: string }>(
    `select n.nspname as schema, p.proname as name, p.oid::regprocedure::text as signature
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
        and not (n.nspname = $2 and p.proname in ('tenant', 'writable_tenant') and p.pronargs = 0)
        and has_function_privilege($1, p.oid, 'EXECUTE')
      order by 1, 2`,
    [runtimeRole, GUARD_SCHEMA],
  )).rows
  // Trusted by exact signature (as regprocedure writes it), so an overload is not trusted by name.
  const trusted = new Set(
    trustedFunctions.length === 0
      ? []
      : (await client.query<{ signature: string | null }>('select to_regprocedure(f)::text as signature from unnest($1::text[]) as f', [trustedFunctions])).rows
        .map((r) => r.signature)
        .filter((s): s is string => s !== null),
  )
  for (const fn of definers) {
    if (trusted.has(fn.signature)) continue
    findings.push({
      severity: 'error', check: 'function.definer', table: `${fn.schema}.${fn.name}`,
      message: `SECURITY DEFINER function ${fn.signature} runs as its owner and runtime role "${runtimeRole}" may call it: it can return rows the tenant policy would hide.`,
      fix: `revoke execute on function ${fn.signature} from public, ${q(runtimeRole)}; or alter function ${fn.signature} security invoker; or, once reviewed as tenant-safe, list "${fn.signature}" in trustedFunctions`,
    })
  }

  // A LEAKPROOF function may run before the tenant policy's filter; one that is not
  // truly leak-proof can report other tenants' values (in an error, say).
  const leakproof = (await client.query<{ signature: string }>(
    `select p.oid::regprocedure::text as signature from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.proleakproof and n.nspname not in ('pg_catalog', 'information_schema') and has_function_privilege($1, p.oid, 'EXECUTE')
      order by 1`,
    [runtimeRole],
  )).rows
  for (const fn of leakproof) {
    findings.push({
      severity: 'error', check: 'function.leakproof',
      message: `Function ${fn.signature} is marked LEAKPROOF, so PostgreSQL may run it on rows before the tenant policy filters them: if it can raise or log its arguments, it shows other tenants' values.`,
      fix: `alter function ${fn.signature} not leakproof`,
    })
  }

  const largeObjects = (await client.query<{ ok: boolean; stored: boolean }>(
    `select exists (select 1 from pg_proc p where p.pronamespace = 'pg_catalog'::regnamespace
                      and (p.proname like 'lo\\_%' or p.proname in ('loread', 'lowrite')) and has_function_privilege($1, p.oid, 'EXECUTE')) as ok,
            exists (select 1 from pg_largeobject_metadata) as stored`,
    [runtimeRole],
  )).rows[0]
  if (largeObjects?.ok) {
    // Only stored large objects can leak: with none, it is a warning (a managed server may not let you revoke).
    findings.push({
      severity: largeObjects.stored ? 'error' : 'warning', check: 'largeobject.reachable',
      message: `Runtime role "${runtimeRole}" may use large objects, which belong to the database, not a tenant: one tenant's SQL could read or delete another's${largeObjects.stored ? ', and this database holds some' : ''}.`,
      fix: 'Run install() as a superuser (it revokes the lo_* functions from PUBLIC), or revoke them yourself; keep tenant data out of large objects',
    })
  }

  const signals = (await client.query<{ signature: string }>(
    `select p.oid::regprocedure::text as signature from pg_proc p
      where p.pronamespace = 'pg_catalog'::regnamespace and p.proname in ('pg_cancel_backend', 'pg_terminate_backend')
        and has_function_privilege($1, p.oid, 'EXECUTE') order by 1`,
    [runtimeRole],
  )).rows
  if (signals.length > 0) {
    // A managed server may not let the owner revoke them: a warning, like large objects with none stored.
    findings.push({
      severity: 'warning', check: 'signal.reachable',
      message: `Runtime role "${runtimeRole}" may run ${signals.map((s) => s.signature).join(' and ')}: every tenant of the shared and schema models runs as this role, and a role may signal its own backends, so one tenant's SQL could cancel or end every other tenant's queries.`,
      fix: 'Run install() as a superuser (it revokes them from PUBLIC and grants them to pg_signal_backend), or revoke execute on them from public yourself',
    })
  }

  const remote = (await client.query<{ what: string }>(
    `select p.oid::regprocedure::text as what from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.proname like 'dblink%' and n.nspname not in ('pg_catalog', 'information_schema') and has_function_privilege($1, p.oid, 'EXECUTE')
     union all
     select 'foreign server ' || quote_ident(srvname) from pg_foreign_server where has_server_privilege($1, oid, 'USAGE')`,
    [runtimeRole],
  )).rows
  for (const row of remote) {
    findings.push({
      severity: 'error', check: 'extension.remote',
      message: `Runtime role "${runtimeRole}" may use ${row.what}, which connects to other databases.`,
      fix: row.what.startsWith('foreign server') ? `revoke usage on ${row.what} from public, ${q(runtimeRole)}` : `revoke execute on function ${row.what} from public, ${q(runtimeRole)}`,
    })
  }
}
