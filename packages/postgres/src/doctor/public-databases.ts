import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import type { DoctorFinding } from './report.ts'

/** At most this many databases are named. */
const LIST_LIMIT = 20

/**
 * `role.public_databases` (a warning): other databases of the server that
 * the role may connect to because `CONNECT` is granted to `PUBLIC` (the
 * default for every database: `postgres`, another application's). A tenant's
 * SQL cannot open a connection, but it can change its own role's password
 * (`ALTER ROLE current_user PASSWORD …`) and then log in from outside, with
 * whatever `PUBLIC` may do there (temporary tables, and before PostgreSQL 15
 * objects in `public`). Tenantry revokes `CONNECT` from `PUBLIC` on the tenant
 * databases it creates; it leaves databases it did not create alone, hence a
 * warning with the fix. Template databases are left out. `except` are databases reported otherwise (another
 * tenant's: `role.other_databases`). PostgreSQL only: a PGlite database has
 * no network login.
 *
 * @example
 * await checkPublicDatabases(pool, 'tenantry_app', [], findings)
 */
export async function checkPublicDatabases(client: Queryable, role: string, except: readonly string[], findings: DoctorFinding[]): Promise<void> {
  const rows = (await client.query<{ datname: string; total: number }>(
    `select datname, count(*) over ()::int as total from pg_database
      where datallowconn and not datistemplate and datname <> current_database() and not (datname = any($2::text[]))
        and has_database_privilege('public', oid, 'CONNECT') and has_database_privilege($1, oid, 'CONNECT')
      order by 1 limit ${LIST_LIMIT}`,
    [role, except],
  )).rows
  if (rows.length === 0) return
  const total = rows[0]?.total ?? rows.length
  const names = rows.map((r) => `"${r.datname}"`).join(', ')
  findings.push({
    severity: 'warning', check: 'role.public_databases',
    message: `Role "${role}" may connect to ${total === 1 ? 'database' : 'databases'} ${names}${total > rows.length ? ` and ${total - rows.length} more` : ''} of this server, because CONNECT on ${total === 1 ? 'it is' : 'them is'} granted to PUBLIC: with its password (which SQL run as it may change) it could log in there.`,
    fix: rows.map((r) => `revoke connect on database ${pg.escapeIdentifier(r.datname)} from public`).join(';\n')
      + ' (then grant connect to the roles that use it)',
  })
}
