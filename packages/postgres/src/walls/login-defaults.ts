import { TenantryError } from '@tenantry/core'
import type pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { SCOPE_SETTING } from './guard-sql.ts'

/**
 * Session defaults a login starts with, beyond the server's configuration:
 * `ALTER ROLE … SET` (any role may set its own, so a tenant's SQL can) and
 * `ALTER DATABASE … SET` (the database's owner). They hold from the login on
 * and `reset all` goes back to them, so a runtime connection is looked at once,
 * when it is first checked out, never per query.
 */
export interface LoginDefaults {
  /** The login role's own defaults, on this connection or in the catalog: Tenantry removes them (`resetRoleDefaults`). */
  readonly role: readonly string[]
  /** Database defaults that change who the session is or what the policies see: the owner must remove them. */
  readonly database: readonly string[]
}

/**
 * Database-level parameters a tenant connection must not start with: a role
 * switched at login, row security, and Tenantry's own settings. Others (a
 * time zone, a statement timeout, a search_path, which each transaction pins)
 * are the database owner's to choose.
 */
const DATABASE_REFUSED = ['role', 'session_authorization', 'row_security']

/**
 * One statement, every operator and function qualified (the login's own
 * search_path is what is being checked). `role`, `session_authorization` and
 * placeholder settings (`tenantry.scope`) are not in pg_settings for an
 * ordinary role: the session's own user and the scope setting are read
 * instead, and the catalog besides.
 */
const LOGIN_DEFAULTS_SQL = `
  select
    array(select s.name operator(pg_catalog.||) ' (' operator(pg_catalog.||) s.source operator(pg_catalog.||) ')'
            from pg_catalog.pg_settings s
           where s.source operator(pg_catalog.=) any ('{user,"database user"}'::pg_catalog.text[])) as role_settings,
    array(select s.name from pg_catalog.pg_settings s
           where s.source operator(pg_catalog.=) 'database'
             and (s.name operator(pg_catalog.=) any ($1::pg_catalog.text[]) or s.name operator(pg_catalog.~~) 'tenantry.%')) as database_settings,
    array(select c from pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) c
           where d.setrole operator(pg_catalog.=) (select r.oid from pg_catalog.pg_roles r where r.rolname operator(pg_catalog.=) session_user)
             and d.setdatabase operator(pg_catalog.=) any (array[0::pg_catalog.oid, (select b.oid from pg_catalog.pg_database b where b.datname operator(pg_catalog.=) pg_catalog.current_database())])) as role_catalog,
    array(select c from pg_catalog.pg_db_role_setting d, pg_catalog.unnest(d.setconfig) c
           where d.setrole operator(pg_catalog.=) 0::pg_catalog.oid
             and d.setdatabase operator(pg_catalog.=) (select b.oid from pg_catalog.pg_database b where b.datname operator(pg_catalog.=) pg_catalog.current_database())) as database_catalog,
    session_user::pg_catalog.text as session_role,
    current_user::pg_catalog.text as current_role,
    pg_catalog.current_setting($2::pg_catalog.text, true) as scope`

interface DefaultsRow {
  role_settings: string[]
  database_settings: string[]
  role_catalog: string[]
  database_catalog: string[]
  session_role: string
  current_role: string
  scope: string | null
}

const settingName = (config: string): string => config.slice(0, Math.max(0, config.indexOf('='))).toLowerCase()
const refusedInDatabase = (name: string): boolean => DATABASE_REFUSED.includes(name) || name.startsWith('tenantry.')

/**
 * The session defaults of the connection `client` (freshly logged in, nothing
 * run on it yet) and of its login role in the catalog. What the connection
 * itself shows counts even when the catalog no longer has it (removed after the
 * login), and what the catalog has counts even before a login picks it up.
 *
 * @example
 * const found = await loginDefaultsOf(client, 'tenantry_app')
 * if (found.role.length > 0) await resetRoleDefaults(ownerPool, 'tenantry_app')
 */
export async function loginDefaultsOf(client: pg.ClientBase, login: string | undefined): Promise<LoginDefaults> {
  const row = (await client.query<DefaultsRow>(LOGIN_DEFAULTS_SQL, [DATABASE_REFUSED, SCOPE_SETTING])).rows[0]
  if (row === undefined) return { role: [], database: [] }
  const database = [
    ...row.database_settings.map((name) => `${name} (database)`),
    ...row.database_catalog.filter((config) => refusedInDatabase(settingName(config))).map((config) => `${settingName(config)} (database)`),
  ]
  const role = [...row.role_settings, ...row.role_catalog.map((config) => `${settingName(config)} (role)`)]
  if (row.current_role !== row.session_role) role.push(`role = ${row.current_role} (current_user is not the login)`)
  if (login !== undefined && row.session_role !== login) role.push(`session_authorization = ${row.session_role} (not the login ${login})`)
  if (row.scope !== null && row.scope !== '') role.push(`${SCOPE_SETTING} (set at login)`)
  return { role: [...new Set(role)], database: [...new Set(database)] }
}

/**
 * Removes every session default of `role`, for all databases and for this one
 * (`ALTER ROLE … RESET ALL` leaves `ALTER ROLE … IN DATABASE` ones). Run by the
 * owner (it created the role), or by the role itself. `ifAllowed`: a role
 * the connecting one may not alter is left as it is, with a database WARNING
 * (doctor reports its defaults: `role.settings`).
 *
 * @example
 * await resetRoleDefaults(ownerPool, 'tenantry_app')
 */
export async function resetRoleDefaults(client: Queryable, role: string, options: { ifAllowed?: boolean } = {}): Promise<void> {
  const otherwise = options.ifAllowed === true
    ? `exception when insufficient_privilege then
        raise warning 'tenantry: cannot remove the session defaults of role %; run alter role % reset all as its owner', ${literal(role)}, ${literal(role)};`
    : ''
  await client.query(`do $$ begin
      execute pg_catalog.format('alter role %I reset all', ${literal(role)});
      execute pg_catalog.format('alter role %I in database %I reset all', ${literal(role)}, pg_catalog.current_database());
    ${otherwise}
    end $$`)
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`
}

/**
 * A login refused because of a session default of the role: a library in
 * `local_preload_libraries` / `session_preload_libraries` that cannot be loaded
 * (SQLSTATE 58P01, "could not access file"). Any role may set the first for
 * itself, so a tenant's SQL could lock every later login of the runtime role out.
 */
export function isLoginSettingFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code
  return code === '58P01' || /could not access file/.test(error instanceof Error ? error.message : String(error))
}

/** ISOLATION_MISCONFIGURED for database defaults Tenantry refuses to serve tenants under. */
export function databaseDefaultsRefused(found: readonly string[]): TenantryError {
  const names = found.map((f) => f.replace(/ \(database\)$/, ''))
  return new TenantryError(
    'ISOLATION_MISCONFIGURED',
    `The database gives every login the session default${names.length > 1 ? 's' : ''} ${names.join(', ')} (ALTER DATABASE … SET), which would change who tenant transactions run as or what the policies see; Tenantry serves no tenant on such a connection. Remove ${names.length > 1 ? 'them' : 'it'} as the database owner: ${names.map((n) => `alter database <this database> reset ${n}`).join('; ')}`,
  )
}

/**
 * What a login pool Tenantry opened knows about its login: the role, and how
 * to remove its defaults as the owner. Kept beside the pool, so every route
 * that takes connections from it (the shared and the schema model share one)
 * can heal it.
 */
export interface ManagedLogin {
  readonly user: string
  resetDefaults(): Promise<void>
}

const managedLogins = new WeakMap<pg.Pool, ManagedLogin>()

/** Records that `pool` logs in as a role Tenantry manages. */
export function manageLogin(pool: pg.Pool, login: ManagedLogin): void {
  managedLogins.set(pool, login)
}

/** The managed login of `pool`, if Tenantry opened it. */
export function managedLoginOf(pool: pg.Pool): ManagedLogin | undefined {
  return managedLogins.get(pool)
}

/** Warns that Tenantry removed a login's session defaults (someone, possibly a tenant's SQL, had set them). */
export function warnDefaultsRemoved(login: string | undefined, what: string): void {
  process.emitWarning(
    `Tenantry removed the session defaults of the runtime login${login === undefined ? '' : ` "${login}"`} (${what}); a tenant's SQL or someone with access to the role had set them (ALTER ROLE … SET). See docs/security.md`,
    'TenantryRuntimeLoginWarning',
  )
}
