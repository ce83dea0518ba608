import { randomBytes } from 'node:crypto'
import { LARGE_OBJECT_CONDITION, publicFunctionsSql, revokeFromPublic, SIGNAL_CONDITION } from './public-revokes.ts'
import { TenantryError } from '@tenantry/core'
import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import type { PostgresTarget } from '../driver/target.ts'
import { isLoginSettingFailure, manageLogin, resetRoleDefaults, warnDefaultsRemoved } from './login-defaults.ts'

/**
 * How tenant transactions reach the runtime role.
 *
 * - `{ user?, password?, max?, connection? }` (the default on PostgreSQL): a
 *   pool of its own that logs in as the runtime role (or as `user`, an
 *   authenticator that switches to it): SQL run in a tenant scope can never
 *   switch back to a privileged role, because the login is not a member of
 *   one. `password`: a string, or `'stored'` (the default): `install()`
 *   generates one, sets it on the role and keeps it in
 *   `tenantry.runtime_logins`, readable by the owner only. `connection`: where
 *   the login connects (a URL or node-postgres config; its user and password
 *   are replaced by the login's), a transaction pooler in front of the server,
 *   say, while the owner's target goes to PostgreSQL directly. Default: the
 *   target's own settings.
 * - `{ pool }`: a pool you built that logs in as a safe role.
 * - `'switch'`: stay on the owner's pool and switch role per transaction
 *   (`set_config('role', …, true)`). PGlite always works this way (it is one
 *   superuser session); on PostgreSQL doctor refuses it when the login could
 *   switch back to a privileged role.
 *
 * @example
 * new SharedSchemaIsolation(target, { tables, runtimeLogin: { password: process.env.TENANTRY_RUNTIME_PASSWORD } })
 */
export type RuntimeLogin =
  | 'switch'
  | { readonly user?: string; readonly password?: string; readonly max?: number; readonly connection?: string | pg.ClientConfig }
  | { readonly pool: pg.Pool }

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/
const STORED = 'stored'

/** Puts a login into a pool config, whichever form (URL or fields) it has. */
export function withLogin<T extends pg.ClientConfig>(config: T, user: string, password: string | undefined): T {
  if (config.connectionString === undefined) return { ...config, user, password }
  const connectionString = config.connectionString
  if (connectionString.startsWith('/')) return { ...config, connectionString: undefined, host: connectionString.split(' ')[0], user, password }
  const url = new URL(connectionString)
  url.username = encodeURIComponent(user)
  url.password = password === undefined ? '' : encodeURIComponent(password)
  return { ...config, connectionString: url.toString() }
}

/**
 * The runtime role of one target, and the pool tenant transactions use: its
 * own login pool, or the target's pool with a role switch. Built by the
 * isolation models; `install()` creates the role.
 *
 * @example
 * const runtime = new RuntimeAccess(target, { role: 'tenantry_app' })
 * await runtime.install(client)   // inside the model's install transaction
 * const pool = await runtime.pool()
 */
export class RuntimeAccess {
  readonly target: PostgresTarget
  readonly role: string
  /** `login`: the pool logs in as `loginUser`; `switch`: the target's pool, role switched per transaction. */
  readonly mode: 'login' | 'switch'
  /** Who the runtime pool logs in as (login mode); undefined in switch mode or with a pool you gave. */
  readonly loginUser: string | undefined
  readonly #login: RuntimeLogin
  #pool: Promise<pg.Pool> | undefined
  /** What #pool resolved to, while it is open. */
  #opened: pg.Pool | undefined
  #owned: { readonly id: string; readonly pool: pg.Pool } | undefined

  constructor(target: PostgresTarget, options: { role: string; login?: RuntimeLogin | undefined }) {
    if (!IDENTIFIER.test(options.role)) throw new TenantryError('VALIDATION_FAILED', 'runtimeRole must be a plain identifier')
    this.target = target
    this.role = options.role
    const login = options.login ?? (target.backend === 'pglite' ? 'switch' : {})
    this.#login = target.backend === 'pglite' ? 'switch' : login
    if (this.#login === 'switch') {
      this.mode = 'switch'
      this.loginUser = undefined
    } else if ('pool' in this.#login) {
      if (!(this.#login.pool instanceof pg.Pool)) throw new TenantryError('VALIDATION_FAILED', 'runtimeLogin.pool must be a pg.Pool')
      this.mode = 'login'
      this.loginUser = undefined
    } else {
      const user = this.#login.user ?? this.role
      if (!IDENTIFIER.test(user)) throw new TenantryError('VALIDATION_FAILED', 'runtimeLogin.user must be a plain identifier')
      this.mode = 'login'
      this.loginUser = user
    }
  }

  /**
   * True when each tenant transaction must switch to the runtime role: in switch
   * mode, with a login that is another role, and with a pool you gave (whoever it
   * logs in as, the role it switches to is the one doctor checks).
   */
  get switchesRole(): boolean {
    if (this.mode === 'switch') return true
    return this.loginUser !== this.role
  }

  /** Whether install() keeps a generated password for the login. */
  get #storedPassword(): boolean {
    return this.#login !== 'switch' && !('pool' in this.#login) && (this.#login.password ?? STORED) === STORED
  }

  /**
   * Creates the runtime role (and the login role, when they differ) with safe
   * attributes, sets the login's password, takes the TEMPORARY privilege from
   * PUBLIC on this database (no tenant may create an object that outlives its
   * transaction on a pooled connection) and, in switch mode, lets the
   * connecting role switch to the runtime role. Removes every session default
   * of the runtime role and of its login (`ALTER ROLE … RESET ALL`, in this
   * database too): a tenant's SQL may have set one, even one that fails every
   * later login (`local_preload_libraries`). Idempotent; run as the owner.
   */
  async install(client: Queryable): Promise<void> {
    // With a pool you gave, the role's LOGIN is yours to decide (the pool may log in as it).
    await ensureRole(client, this.role, { login: this.loginUser === undefined && this.mode === 'login' ? 'keep' : this.mode === 'login' && this.loginUser === this.role })
    if (this.mode === 'switch') {
      await grantToOwner(client, this.role)
    } else if (this.loginUser !== undefined) {
      if (this.loginUser !== this.role) {
        await ensureRole(client, this.loginUser, { login: true })
        await client.query(`grant ${pg.escapeIdentifier(this.role)} to ${pg.escapeIdentifier(this.loginUser)}`)
      }
      await installLoginPassword(client, this.loginUser, this.#storedPassword ? STORED : (this.#login as { password?: string }).password)
    }
    for (const role of new Set([this.role, this.loginUser ?? this.role])) await resetRoleDefaults(client, role, { ifAllowed: true })
    await client.query(`do $$ begin
        execute format('revoke temporary on database %I from public', current_database());
        execute format('grant temporary on database %I to %I', current_database(), current_user);
      end $$`)
    await revokeLargeObjects(client)
    await revokeSignals(client)
  }

  /** The pool tenant transactions run on (opened on first use in login mode). */
  pool(): Promise<pg.Pool> {
    if (this.#login === 'switch') return Promise.resolve(this.target.pool)
    if ('pool' in this.#login) return Promise.resolve(this.#login.pool)
    const opening = (this.#pool ??= this.#open().then(
      (pool) => {
        if (this.#pool === opening) this.#opened = pool
        return pool
      },
      (error: unknown) => {
        if (this.#pool === opening) this.#pool = undefined
        throw error
      },
    ))
    return opening
  }

  /** The runtime pool if `pool()` has it open, else undefined: a query need not wait on a promise once it is. */
  openedPool(): pg.Pool | undefined {
    if (this.#login === 'switch') return this.target.pool
    if ('pool' in this.#login) return this.#login.pool
    return this.#opened
  }

  async #open(): Promise<pg.Pool> {
    const login = this.#login as LoginFields
    const user = this.loginUser as string
    // Models on one target with one login (shared and schema, say) share one pool.
    const id = loginId(user, login.connection)
    let byUser = sharedPools.get(this.target.pool)
    if (byUser === undefined) sharedPools.set(this.target.pool, (byUser = new Map()))
    let entry = byUser.get(id)
    if (entry === undefined) {
      const opening = this.#connect(user, login)
      entry = { pool: opening, refs: 0 }
      byUser.set(id, entry)
      const current = entry
      opening.catch(() => {
        if (byUser.get(id) === current) byUser.delete(id)
      })
    }
    entry.refs += 1
    const pool = await entry.pool.catch((error: unknown) => {
      ;(entry as SharedPool).refs -= 1
      throw error
    })
    this.#owned = { id, pool }
    return pool
  }

  async #connect(user: string, login: LoginFields): Promise<pg.Pool> {
    let password = login.password
    if (this.#storedPassword) {
      password = await readStoredPassword(this.target.pool, user)
      if (password === undefined) throw new TenantryError('ISOLATION_MISCONFIGURED', `No stored password for the runtime login "${user}"; run install() of the isolation model first`)
    }
    const owner = this.target.pool.options as pg.PoolConfig
    const base: pg.PoolConfig = login.connection === undefined ? owner : typeof login.connection === 'string' ? { connectionString: login.connection } : login.connection
    const pool = new pg.Pool({ ...withLogin(base, user, password), max: login.max ?? base.max ?? owner.max ?? 10, allowExitOnIdle: true })
    // An idle connection the server drops (restart, a forced drop) must not crash the process.
    pool.on('error', () => undefined)
    // The route checks each new connection of this pool for session defaults, and removes them as the owner.
    manageLogin(pool, { user, resetDefaults: () => resetRoleDefaults(this.target.pool, user) })
    try {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (error) {
        // A default that fails every login (a tenant's `local_preload_libraries`): remove it as the owner, try once more.
        if (!isLoginSettingFailure(error)) throw error
        await resetRoleDefaults(this.target.pool, user)
        warnDefaultsRemoved(user, `its login failed: ${(error as Error).message}`)
        client = await pool.connect()
      }
      client.release()
    } catch (error) {
      await pool.end().catch(() => undefined)
      throw new TenantryError('ISOLATION_MISCONFIGURED', `Could not log in as the runtime role "${user}" (${(error as Error).message}); run install() (it creates the role and its password), or configure runtimeLogin (see docs/security.md)`, { cause: error })
    }
    return pool
  }

  /** The session user of tenant transactions: the login, or whoever the pool logs in as. */
  async sessionUser(): Promise<string> {
    if (this.loginUser !== undefined) return this.loginUser
    const pool = await this.pool()
    const row = (await pool.query<{ u: string }>('select session_user as u')).rows[0]
    return row?.u ?? ''
  }

  /** Gives back the login pool this object uses (closed when no model on the target uses it any more). */
  async close(): Promise<void> {
    const owned = this.#owned
    this.#owned = undefined
    this.#pool = undefined
    this.#opened = undefined
    if (owned === undefined) return
    const byUser = sharedPools.get(this.target.pool)
    const entry = byUser?.get(owned.id)
    if (entry === undefined) return
    entry.refs -= 1
    if (entry.refs > 0) return
    byUser?.delete(owned.id)
    await owned.pool.end()
  }
}

interface SharedPool { readonly pool: Promise<pg.Pool>; refs: number }
type LoginFields = { readonly password?: string; readonly max?: number; readonly connection?: string | pg.ClientConfig }

/** A login pool's key among its target's: the login, and where it connects when not the target's settings. */
function loginId(user: string, connection: string | pg.ClientConfig | undefined): string {
  if (connection === undefined) return user
  const { password: _password, ...shown } = typeof connection === 'string' ? { connectionString: connection } : connection
  return `${user}\u0000${JSON.stringify(shown)}`
}

/** Login pools by the target pool they derive from, and by login (and connection). */
const sharedPools = new WeakMap<pg.Pool, Map<string, SharedPool>>()

/**
 * Takes the large-object functions from PUBLIC (the owner keeps them): large
 * objects belong to the database, readable by their owner, and every tenant
 * runs as the one runtime role. Only a superuser may change them (they are
 * PostgreSQL's own); for anyone else this does nothing and doctor reports it.
 */
async function revokeLargeObjects(client: Queryable): Promise<void> {
  await revokeFromPublic(client, publicFunctionsSql(LARGE_OBJECT_CONDITION))
}

/**
 * Takes `pg_cancel_backend` and `pg_terminate_backend` from PUBLIC and gives
 * them to `pg_signal_backend`: tenants share the runtime role, and a role may
 * signal its own backends, so one tenant's SQL could cancel or end every
 * other tenant's. Superuser only, as for the large objects; doctor reports
 * what stays (`signal.reachable`).
 */
async function revokeSignals(client: Queryable): Promise<void> {
  await client.query(`do $$ declare o record; begin
      if not exists (select 1 from pg_roles where rolname = current_user and rolsuper) then return; end if;
      for o in ${publicFunctionsSql(SIGNAL_CONDITION)} loop
        execute format('revoke all on %s from public', o.object);
        if exists (select 1 from pg_roles where rolname = 'pg_signal_backend') then
          execute format('grant execute on %s to pg_signal_backend', o.object);
        end if;
      end loop;
    end $$`)
}

/** Makes the connecting role (unless superuser) a member of `role`. */
async function grantToOwner(client: Queryable, role: string): Promise<void> {
  await client.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = current_user and rolsuper) then
        execute format('grant %I to %I', ${pg.escapeLiteral(role)}, current_user);
      end if;
    end $$`)
}

/**
 * Creates `role` if missing and gives it safe attributes (never superuser,
 * BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION); LOGIN as asked, or as it is
 * with `'keep'` (a new role gets NOLOGIN).
 */
export async function ensureRole(client: Queryable, role: string, options: { login: boolean | 'keep' }): Promise<void> {
  const login = options.login === 'keep' ? '' : options.login ? 'login ' : 'nologin '
  const attributes = `${login}nosuperuser nobypassrls nocreatedb nocreaterole noreplication`
  const loginDiffers = options.login === 'keep' ? 'false' : `rolcanlogin <> ${options.login}`
  await client.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = ${pg.escapeLiteral(role)}) then
        create role ${pg.escapeIdentifier(role)} ${options.login === 'keep' ? 'nologin ' : ''}${attributes};
      elsif exists (select 1 from pg_roles where rolname = ${pg.escapeLiteral(role)}
                     and (rolsuper or rolbypassrls or rolcreatedb or rolcreaterole or rolreplication or ${loginDiffers})) then
        alter role ${pg.escapeIdentifier(role)} ${attributes};
      end if;
    exception when duplicate_object then null;
    end $$`)
}

/**
 * Sets the password of a login role and lets the connecting role (the owner)
 * see its sessions. `'stored'`: a generated password, kept in
 * `tenantry.runtime_logins` (created here if missing; no other role can read
 * it) and reused by every later install and every instance; a string: that
 * password, not stored; undefined: no password change (trust, peer or
 * certificate authentication).
 *
 * @example
 * await installLoginPassword(adminClient, 'tenantry_app', 'stored')
 */
export async function installLoginPassword(client: Queryable, role: string, password: string | undefined, options: { grantToOwner?: boolean } = {}): Promise<void> {
  // The owner sees the login's sessions in pg_stat_activity (offboarding waits for them).
  if (options.grantToOwner !== false) await grantToOwner(client, role)
  let value = password
  if (password === STORED) {
    await ensureRuntimeLoginsTable(client)
    await client.query(
      'insert into tenantry.runtime_logins (role, password) values ($1, $2) on conflict (role) do nothing',
      [role, randomBytes(24).toString('base64url')],
    )
    value = await readStoredPassword(client, role)
  }
  if (value !== undefined) await client.query(`alter role ${pg.escapeIdentifier(role)} password ${pg.escapeLiteral(value)}`)
}

/**
 * The table of generated login passwords, in the `tenantry` schema of the
 * database the owner's connection names; no other role can read it.
 *
 * @example
 * await ensureRuntimeLoginsTable(adminClient)
 */
export async function ensureRuntimeLoginsTable(client: Queryable): Promise<void> {
  await client.query('create schema if not exists tenantry')
  await client.query('revoke all on schema tenantry from public')
  await client.query(`create table if not exists tenantry.runtime_logins (
     role name primary key,
     password text not null,
     updated_at timestamptz not null default now()
   )`)
  await client.query('revoke all on tenantry.runtime_logins from public')
}

/**
 * The password `installLoginPassword(…, 'stored')` keeps for a login role, read
 * by a role that may (the owner); undefined when none is stored for it. Throws
 * ISOLATION_MISCONFIGURED when the table itself is missing (install() never ran).
 *
 * @example
 * const password = await readStoredPassword(adminPool, 'tenantry_app')
 */
export async function readStoredPassword(client: Queryable, role: string): Promise<string | undefined> {
  try {
    const row = (await client.query<{ password: string }>('select password from tenantry.runtime_logins where role = $1', [role])).rows[0]
    return row?.password
  } catch (error) {
    if ((error as { code?: string }).code === '42P01' || (error as { code?: string }).code === '3F000') {
      throw new TenantryError('ISOLATION_MISCONFIGURED', `No table of stored login passwords (tenantry.runtime_logins) in this database; run install() of the isolation model first`, { cause: error })
    }
    throw error
  }
}
