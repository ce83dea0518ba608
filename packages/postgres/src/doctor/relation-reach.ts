/**
 * SQL for the privileges a role holds on a relation that read or write its
 * rows, on the whole relation or on some of its columns: `SELECT`, `INSERT`,
 * `UPDATE` (each also per column), `DELETE` and `TRUNCATE`. A check that looked
 * at table-level `SELECT` alone would miss `grant select (secret) on t`, or a
 * role that may only write.
 *
 * The result is a `text[]` such as `{SELECT (columns),DELETE}`, empty when the
 * role holds none. `role` and `relation` are SQL expressions (a parameter, a
 * column).
 *
 * @example
 * `select c.oid from pg_class c where cardinality(${rowPrivilegesSql('$1', 'c.oid')}) > 0`
 */
export function rowPrivilegesSql(role: string, relation: string): string {
  const either = (privilege: string): string =>
    `case when has_table_privilege(${role}, ${relation}, '${privilege}') then '${privilege}'
          when has_any_column_privilege(${role}, ${relation}, '${privilege}') then '${privilege} (columns)' end`
  const whole = (privilege: string): string => `case when has_table_privilege(${role}, ${relation}, '${privilege}') then '${privilege}' end`
  return `array_remove(array[${either('SELECT')}, ${either('INSERT')}, ${either('UPDATE')}, ${whole('DELETE')}, ${whole('TRUNCATE')}]::text[], null)`
}

/**
 * SQL true when `role` may read or write rows of `relation` (see
 * `rowPrivilegesSql`; `TRUNCATE` is left out: doctor reports it on its own).
 *
 * @example
 * `select has_row_access from (select ${reachesRowsSql('$1', "'public.t'::regclass")} as has_row_access) x`
 */
export function reachesRowsSql(role: string, relation: string): string {
  return `(has_table_privilege(${role}, ${relation}, 'SELECT, INSERT, UPDATE, DELETE') or has_any_column_privilege(${role}, ${relation}, 'SELECT, INSERT, UPDATE'))`
}

/**
 * A `with recursive` prelude naming `reaches(view_oid)`: every view and
 * materialized view that reads one of the relations in `tables` (an `oid[]`
 * SQL expression), directly or through other views.
 *
 * @example
 * `${viewsOverSql('$1::oid[]')} select view_oid from reaches`
 */
export function viewsOverSql(tables: string): string {
  return `with recursive deps(view_oid, ref) as (
       select r.ev_class, d.refobjid
         from pg_rewrite r
         join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid and d.refclassid = 'pg_class'::regclass
        where d.refobjid <> r.ev_class
     ), reaches(view_oid) as (
       select view_oid from deps where ref = any(${tables})
       union
       select d.view_oid from deps d join reaches r on d.ref = r.view_oid
     )`
}

/**
 * SQL true when the view `c` (a `pg_class` alias) runs with its caller's rights
 * (`security_invoker`), so the grants and policies of what it reads apply.
 */
export const SECURITY_INVOKER_SQL = `coalesce(exists (select 1 from unnest(c.reloptions) o where lower(o) in ('security_invoker=true', 'security_invoker=on', 'security_invoker=1')), false)`
