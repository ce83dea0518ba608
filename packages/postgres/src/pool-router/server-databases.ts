import { TenantryError, isTenantryError, validationError, type ValidationIssue } from '@tenantry/core'
import pg from 'pg'
import { readStoredPassword, withLogin } from '../walls/runtime-login.ts'
import { DEFAULT_SERVER, describeKey, type PhysicalConnection, type ResolvedDatabaseKey, type TenantDatabases } from './contract.ts'

/** How long a close may wait for the server's goodbye before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000
/** Connect timeout when the server config sets none: a blackholed host must not hold a permit for minutes. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000

function ignore(): void {}

/**
 * Ends a node-postgres client, and destroys its socket if the server does not
 * answer in time: a close must never hang, since the connection's budget
 * permit is given back only when it is done.
 */
export async function endClient(client: pg.Client, graceMs = CLOSE_GRACE_MS): Promise<void> {
  const ended = client.end().then(ignore, ignore)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs)
  })
  const outcome = await Promise.race([ended, late])
  clearTimeout(timer)
  if (outcome === 'late') {
    client.connection.stream.destroy()
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 100).unref())])
  }
}

/**
 * Puts another database in a connection string. node-postgres decodes the
 * path with decodeURI, which leaves "/", "?" and "#" escaped: such names need
 * the server configured as an object.
 */
function withDatabase(connectionString: string, database: string): string {
  if (connectionString.startsWith('/')) {
    // "host database" form for a Unix socket directory
    if (database.includes(' ')) throw unrepresentable(database)
    return `${connectionString.split(' ')[0] ?? connectionString} ${database}`
  }
  const url = new URL(connectionString)
  if (url.protocol === 'socket:') {
    url.searchParams.set('db', database)
    return url.toString()
  }
  if (/[/?#]/.test(database)) throw unrepresentable(database)
  url.pathname = `/${encodeURI(database)}`
  return url.toString()
}

function unrepresentable(database: string): TenantryError {
  return validationError([
    { path: 'key.database', message: `"${database}" cannot be written in a connection string; configure the server as an object (host, port, user)` },
  ])
}

/** The client config for one database of a server. */
export function clientConfigFor(server: string | pg.ClientConfig, database: string): pg.ClientConfig {
  const base: pg.ClientConfig = typeof server === 'string' ? { connectionString: server } : server
  const config: pg.ClientConfig = base.connectionString === undefined
    ? { ...base, database }
    : { ...base, connectionString: withDatabase(base.connectionString, database) }
  return { connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS, ...config }
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/

/**
 * The password a server connection logs in with as `login` (a key's runtime
 * role): `'stored'` (the default) reads the one the database model's install()
 * generated, from `tenantry.runtime_logins` in the server's own database (the
 * one its configuration names), as the configured (owner) login; a function
 * returns it; `'none'` sends none (trust, peer or certificate authentication).
 *
 * @example
 * serverDatabases({ default: adminUrl }, { loginPasswords: (server, login) => secrets.get(`${server}/${login}`) })
 */
export type LoginPasswords = 'stored' | 'none' | ((server: string, login: string) => Promise<string | undefined> | string | undefined)

export interface ServerDatabasesOptions {
  readonly loginPasswords?: LoginPasswords
  /**
   * Where keys with a login (tenant transactions) connect, by server name: a
   * transaction pooler in front of the server (PgBouncer), say, while
   * provisioning and migrations (keys without a login) use `servers`, the
   * owner's direct connections. The settings' user and password are replaced
   * by the login's; passwords are still read through `servers`. A server
   * not named here: its `servers` settings.
   *
   * @example
   * serverDatabases({ default: process.env.DIRECT_URL! }, { loginServers: { default: process.env.DATABASE_URL! } })
   */
  readonly loginServers?: Readonly<Record<string, string | pg.ClientConfig>>
}

/**
 * Tenant databases on PostgreSQL servers: `servers` maps a server name (as in
 * a tenant's placement; `default` is the one a placement without `server`
 * means) to its connection settings (a URL or a node-postgres config, whose
 * database is replaced by the tenant's): the owner's login, used for
 * provisioning and migrations. A key with a `login` (tenant transactions log
 * in as the runtime role) connects with the same settings as that role, with
 * the password `loginPasswords` gives. Every connection is a plain
 * `pg.Client`; a connect without its own timeout gives up after 5 s.
 *
 * @example
 * const router = new PoolRouter({
 *   databases: serverDatabases({
 *     default: process.env.DATABASE_URL!,
 *     'eu-2': { host: '10.0.2.7', port: 5432, user: 'tenantry', password: process.env.EU2_PASSWORD },
 *   }),
 *   budget: 80,
 * })
 */
export function serverDatabases(servers: Readonly<Record<string, string | pg.ClientConfig>>, options: ServerDatabasesOptions = {}): TenantDatabases {
  const issues: ValidationIssue[] = []
  const configs = new Map<string, string | pg.ClientConfig>()
  for (const [name, config] of Object.entries(servers ?? {})) {
    if (!SERVER_NAME.test(name)) issues.push({ path: `servers.${name}`, message: 'is not a valid server name (letters, digits, "_", ".", "-")' })
    if (typeof config !== 'string' && (typeof config !== 'object' || config === null)) {
      issues.push({ path: `servers.${name}`, message: 'must be a connection string or a node-postgres client config' })
    }
    configs.set(name, config)
  }
  if (configs.size === 0) issues.push({ path: 'servers', message: `must name at least one server (e.g. "${DEFAULT_SERVER}")` })
  const loginServers = options.loginServers ?? {}
  for (const [name, config] of Object.entries(loginServers)) {
    if (!configs.has(name)) issues.push({ path: `loginServers.${name}`, message: 'names no server of servers' })
    if (typeof config !== 'string' && (typeof config !== 'object' || config === null)) {
      issues.push({ path: `loginServers.${name}`, message: 'must be a connection string or a node-postgres client config' })
    }
  }
  const passwords = options.loginPasswords ?? 'stored'
  if (passwords !== 'stored' && passwords !== 'none' && typeof passwords !== 'function') {
    issues.push({ path: 'loginPasswords', message: "must be 'stored', 'none' or a function (server, login) => password" })
  }
  if (issues.length > 0) throw validationError(issues)

  const known = new Map<string, Promise<string | undefined>>()
  const passwordOf = (server: string, config: string | pg.ClientConfig, login: string): Promise<string | undefined> => {
    const id = `${server}\u0000${login}`
    let password = known.get(id)
    if (password === undefined) {
      password = (async () => {
        if (passwords === 'none') return undefined
        if (typeof passwords === 'function') return passwords(server, login)
        const admin = new pg.Client({ connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS, ...(typeof config === 'string' ? { connectionString: config } : config) })
        admin.on('error', ignore)
        await admin.connect()
        try {
          const stored = await readStoredPassword(admin, login).catch((error: unknown) => {
            if (isTenantryError(error, 'ISOLATION_MISCONFIGURED')) {
              throw new TenantryError('ISOLATION_MISCONFIGURED', `No table of stored login passwords on server "${server}", so the login "${login}" has no password to use (serverDatabases' loginPasswords is 'stored'). If tenant roles log in without one (DatabasePerTenantIsolation runtimePassword: 'none'), pass { loginPasswords: 'none' } to serverDatabases (createTenantry does so for models.database.runtimePassword: 'none'); otherwise run install() of the database model.`, { cause: error })
            }
            throw error
          })
          // A tenant role is made with its database: no password, no tenant there.
          if (stored === undefined) throw new TenantryError('TENANT_PLACEMENT_MISSING', `No login "${login}" is provisioned on server "${server}"; provision the tenant before serving it. (If tenant roles log in without a password, DatabasePerTenantIsolation runtimePassword: 'none', pass { loginPasswords: 'none' } to serverDatabases.)`)
          return stored
        } finally {
          await endClient(admin, 100)
        }
      })()
      known.set(id, password)
      password.catch(() => known.delete(id))
    }
    return password
  }

  return {
    backend: 'postgres',
    async connect(key: ResolvedDatabaseKey): Promise<PhysicalConnection> {
      const server = configs.get(key.server)
      if (server === undefined) {
        throw new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant ${describeKey(key)} names a server that is not configured.`, {
          details: { server: key.server },
        })
      }
      let config = clientConfigFor(key.login === undefined ? server : loginServers[key.server] ?? server, key.database)
      if (key.login !== undefined) config = withLogin(config, key.login, await passwordOf(key.server, server, key.login))
      const client = new pg.Client(config)
      // Until the router listens, a dropped connection must not become an uncaught 'error'.
      client.on('error', ignore)
      try {
        await client.connect()
      } catch (error) {
        await endClient(client, 100)
        throw error
      }
      return { client, close: () => endClient(client) }
    },
  }
}
