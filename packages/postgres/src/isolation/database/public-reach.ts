import { LARGE_OBJECT_CONDITION, publicFunctionsSql } from '../../walls/public-revokes.ts'

/**
 * PostgreSQL's own functions and views that `PUBLIC` may use and that reach
 * past a tenant database's own tables:
 *
 * - the large-object functions (`lo_*`, `loread`, `lowrite`), taken from
 *   `PUBLIC` as in the shared model's database (large objects sit outside the
 *   tables, the grants and the migrations);
 * - the server-wide database statistics: `pg_stat_database`,
 *   `pg_stat_database_conflicts` and the `pg_stat_get_db_*` functions behind
 *   them show every database of the server with its counters (rows inserted,
 *   updated, deleted, returned; transactions), that is, how busy and how large
 *   other tenants' databases are.
 */
const PUBLIC_REACH_SQL = `
  ${publicFunctionsSql(`${LARGE_OBJECT_CONDITION} or p.proname like 'pg\\_stat\\_get\\_db\\_%'`)}
  union all
  select format('table pg_catalog.%I', c.relname) from pg_class c
   where c.relnamespace = 'pg_catalog'::regnamespace and c.relname in ('pg_stat_database', 'pg_stat_database_conflicts')
     and has_table_privilege('public', c.oid, 'SELECT')`

/**
 * One statement that says where the client is and what is left to take from
 * `PUBLIC`: the database's name, and the objects of `PUBLIC_REACH_SQL` still
 * reachable when the current user is a superuser (null otherwise: only a
 * superuser may change PostgreSQL's own objects, and the catalog is then not
 * read at all). Plain SQL, no PL/pgSQL: a tenant database's connection is
 * often new, and loading PL/pgSQL into a new backend costs more than the
 * statements themselves.
 */
export const PUBLIC_REACH_PROBE_SQL = `select current_database() as database,
  case when (select rolsuper from pg_catalog.pg_roles where rolname = current_user)
       then array(select r.object from (${PUBLIC_REACH_SQL}) as r(object)) end as reachable`

/** What `PUBLIC_REACH_PROBE_SQL` returns. */
export interface PublicReachProbe {
  readonly database: string
  /** Objects to revoke from `PUBLIC` (`function pg_catalog.f(args)`, `table pg_catalog.t`); null when not a superuser. */
  readonly reachable: readonly string[] | null
}

/**
 * The `revoke … from public` statements for what the probe found reachable;
 * the owner keeps it. Privileges on PostgreSQL's own objects are kept per
 * database, so nothing changes in any other database (monitoring that reads
 * `pg_stat_database` in `postgres` is unaffected). For a role other than a
 * superuser there is nothing to run, and doctor reports the large-object
 * functions (`largeobject.reachable`).
 *
 * @example
 * const probe = (await client.query<PublicReachProbe>(PUBLIC_REACH_PROBE_SQL)).rows[0]!
 * for (const revoke of publicReachRevokes(probe)) await client.query(revoke)
 */
export function publicReachRevokes(probe: PublicReachProbe): string[] {
  return (probe.reachable ?? []).map((object) => `revoke all on ${object} from public`)
}
