import type { Queryable } from '../catalog/transaction.ts'

/**
 * A query listing PostgreSQL's functions that `PUBLIC` may execute and whose
 * name matches `condition` (on `p.proname`), as `function pg_catalog.name(args)`.
 */
export function publicFunctionsSql(condition: string): string {
  return `select format('function pg_catalog.%I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) as object from pg_proc p
   where p.pronamespace = 'pg_catalog'::regnamespace and has_function_privilege('public', p.oid, 'EXECUTE')
     and (${condition})`
}

/** The large-object functions (`lo_*`, `loread`, `lowrite`): large objects belong to the database, not a tenant. */
export const LARGE_OBJECT_CONDITION = "p.proname like 'lo\\_%' or p.proname in ('loread', 'lowrite')"

/**
 * Revokes everything on the objects `objectsSql` lists (one `object` column:
 * `function pg_catalog.f(args)`, `table pg_catalog.t`) from `PUBLIC`, in the
 * database `client` is connected to; their owner keeps them. Only a superuser
 * may change PostgreSQL's own objects: for any other role this does nothing
 * (doctor reports what stays reachable). Idempotent.
 *
 * @example
 * await revokeFromPublic(client, publicFunctionsSql(LARGE_OBJECT_CONDITION))
 */
export async function revokeFromPublic(client: Queryable, objectsSql: string): Promise<void> {
  await client.query(`do $$ declare o record; begin
      if not exists (select 1 from pg_roles where rolname = current_user and rolsuper) then return; end if;
      for o in ${objectsSql} loop
        execute format('revoke all on %s from public', o.object);
      end loop;
    end $$`)
}

/**
 * The functions that signal another backend (`pg_cancel_backend`,
 * `pg_terminate_backend`): any role may signal the backends of a role it is a
 * member of, its own included, and every tenant of the shared and schema
 * models runs as the one runtime role, so one tenant's SQL could cancel or
 * end every other tenant's sessions. Taken from `PUBLIC` and given to
 * `pg_signal_backend`, PostgreSQL's role for exactly that.
 */
export const SIGNAL_CONDITION = "p.proname in ('pg_cancel_backend', 'pg_terminate_backend')"
