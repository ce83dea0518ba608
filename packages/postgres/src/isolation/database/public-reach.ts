import type { Queryable } from '../../catalog/transaction.ts'
import { LARGE_OBJECT_CONDITION, publicFunctionsSql, revokeFromPublic } from '../../walls/public-revokes.ts'

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
 * Takes from `PUBLIC`, in the tenant database `client` is connected to, what
 * reaches past its own tables (see `PUBLIC_REACH_SQL`); the owner keeps it.
 * Privileges on PostgreSQL's own objects are kept per database, so nothing
 * changes in any other database (monitoring that reads `pg_stat_database` in
 * `postgres` is unaffected). Only a superuser may change them: for another
 * role this does nothing, and doctor reports the large-object functions
 * (`largeobject.reachable`). Idempotent; runs at provisioning and after every
 * migration.
 *
 * @example
 * await revokePublicReach(client) // in the tenant database, as its owner
 */
export async function revokePublicReach(client: Queryable): Promise<void> {
  await revokeFromPublic(client, PUBLIC_REACH_SQL)
}
