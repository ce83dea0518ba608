import { validationError, type ValidationIssue } from '@tenantry/core'
import type pg from 'pg'
import type { PostgresBackend } from '../driver/target.ts'

/**
 * The server name a key without `server` means (a placement's "default server").
 *
 * @example
 * serverDatabases({ [DEFAULT_SERVER]: process.env.DATABASE_URL! })
 */
export const DEFAULT_SERVER = 'default'

/**
 * Which tenant database a connection is for. A tenant's catalog placement
 * (`{ server?, database }`) is one: an absent server means the default server.
 *
 * @example
 * const key: DatabaseKey = { server: 'eu-1', database: 'tenant_initech' }
 */
export interface DatabaseKey {
  readonly server?: string
  readonly database: string
  /**
   * The role to log in as (the runtime role of tenant transactions); absent:
   * the server's own login (the owner, for provisioning and migrations).
   * Connections of two logins are pooled apart, under the same budget.
   */
  readonly login?: string
}

/**
 * A key with its server filled in: what a TenantDatabases is asked to connect to.
 *
 * @example
 * const key: ResolvedDatabaseKey = { server: DEFAULT_SERVER, database: 'tenant_initech' }
 */
export interface ResolvedDatabaseKey {
  readonly server: string
  readonly database: string
  readonly login?: string
}

/**
 * One open connection to a tenant database: a node-postgres client and the way
 * to close it. Each holds one permit of the router's budget, from the moment
 * it starts opening until `close()` has resolved.
 *
 * @example
 * const client = new pg.Client({ host: 'db-1', database: key.database })
 * await client.connect()
 * const connection: PhysicalConnection = { client, close: () => client.end() }
 */
export interface PhysicalConnection {
  readonly client: pg.Client
  /** Closes the connection and whatever it alone used (a PGlite instance). Must not hang. */
  close(): Promise<void>
}

/**
 * Where tenant databases live and how to open a connection to one: the single
 * thing a PoolRouter needs from its caller. `serverDatabases()` (PostgreSQL
 * servers) and `pgliteDatabases()` (a folder of PGlite instances) implement it.
 *
 * `connect` is called only by the router, with a budget permit in hand. It
 * rejects with a TenantryError (kept as is) or with the driver's error (the
 * router classifies it: SQLSTATE 3D000 is TENANT_PLACEMENT_MISSING, the rest
 * TENANT_DATABASE_UNAVAILABLE).
 *
 * @example
 * const oneServer: TenantDatabases = {
 *   backend: 'postgres',
 *   async connect(key) {
 *     const client = new pg.Client({ host: 'db-1', user: 'app', database: key.database })
 *     client.on('error', () => {})
 *     await client.connect()
 *     return { client, close: () => client.end() }
 *   },
 * }
 */
export interface TenantDatabases {
  readonly backend: PostgresBackend
  /**
   * Most connections one database can take at once, whatever the router's
   * `maxPerDatabase`: 1 for PGlite, whose single connection is the instance.
   */
  readonly maxConnectionsPerDatabase?: number
  /**
   * False when a database has one connection whatever the login (PGlite: the
   * instance is the connection): the router then serves every login of a
   * database from one pool, and tenant transactions switch role instead.
   * Default true.
   */
  readonly separateLogins?: boolean
  connect(key: ResolvedDatabaseKey): Promise<PhysicalConnection>
}

/**
 * A connection checked out of the router: a node-postgres client, used exactly
 * like a `pg.Pool` client. Give it back with `release()` exactly once;
 * `release(true)` (or an Error) closes it instead, for a connection left in a
 * bad state. Do not keep it after release: the object is handed out again.
 *
 * @example
 * const client: RoutedClient = await router.acquire({ database: 'tenant_initech' })
 * try {
 *   await client.query('begin')
 *   await client.query('insert into projects (name) values ($1)', ['Launch'])
 *   await client.query('commit')
 *   client.release()
 * } catch (error) {
 *   client.release(error as Error) // closed, not reused mid-transaction
 *   throw error
 * }
 */
export type RoutedClient = pg.PoolClient

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/

/** Fills in the default server and checks the names (same rules as a catalog placement). */
export function resolveDatabaseKey(key: DatabaseKey, path = 'key'): ResolvedDatabaseKey {
  const issues: ValidationIssue[] = []
  if (typeof key !== 'object' || key === null) {
    throw validationError([{ path, message: 'must be an object { server?, database }' }])
  }
  const server = key.server ?? DEFAULT_SERVER
  if (typeof server !== 'string' || !SERVER_NAME.test(server)) {
    issues.push({ path: `${path}.server`, message: 'must be a configured server name (letters, digits, "_", ".", "-")' })
  }
  const database: unknown = key.database
  if (typeof database !== 'string' || database.length < 1 || database.length > 63 || database.includes('\u0000')) {
    issues.push({ path: `${path}.database`, message: 'must be a database name of 1-63 characters' })
  }
  const login: unknown = key.login
  if (login !== undefined && (typeof login !== 'string' || !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(login))) {
    issues.push({ path: `${path}.login`, message: 'must be a plain role name' })
  }
  if (issues.length > 0) throw validationError(issues)
  return login === undefined ? { server, database: database as string } : { server, database: database as string, login: login as string }
}

/** A map key for a database; unambiguous whatever characters the names hold. */
export function databaseId(key: ResolvedDatabaseKey): string {
  return key.login === undefined ? `${key.server}\u0000${key.database}` : `${key.server}\u0000${key.database}\u0000${key.login}`
}

/** How the key reads in messages and errors. */
export function describeKey(key: ResolvedDatabaseKey): string {
  return `database "${key.database}" on server "${key.server}"`
}
