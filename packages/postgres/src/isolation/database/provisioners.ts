import { TenantryError } from '@tenantry/core'
import pg from 'pg'
import { DEFAULT_SERVER, type DatabaseKey } from '../../pool-router/contract.ts'

/**
 * Creates and drops tenant databases; the database model calls it from
 * provision() and deprovision() (the serving side is the PoolRouter). Tenantry
 * ships `serverProvisioner` (PostgreSQL servers) and `pgliteProvisioner` (from
 * `@tenantry/postgres/pglite`, one folder per tenant); another kind of storage
 * implements this contract.
 *
 * @example
 * const provisioner: DatabaseProvisioner = serverProvisioner({ default: process.env.DATABASE_URL! })
 * const databases = new DatabasePerTenantIsolation({ router, provisioner })
 * await provisioner.create({ database: 'tenant_0d4f…' }) // what provision() does first
 */
export interface DatabaseProvisioner {
  /**
   * Creates the empty database `key` names (on `key.server`, or the default
   * server). One that already exists is CONFLICT: a tenant's database is
   * never taken over.
   *
   * @example
   * await provisioner.create({ server: 'eu-1', database: tenantDatabaseName(tenant) })
   */
  create(key: DatabaseKey): Promise<void>
  /**
   * Drops the database `key` names, closing its connections; a database that
   * does not exist is not an error.
   *
   * @example
   * await router.evict(key) // the router's pools first
   * await provisioner.drop(key)
   */
  drop(key: DatabaseKey): Promise<void>
  /**
   * The servers whose roles are cluster-wide (PostgreSQL), and a connection to
   * each as its admin: the database model's install() creates the runtime
   * login there once per server. Absent for PGlite, where each tenant
   * database is its own cluster and gets the role when it is provisioned.
   *
   * @example
   * serverProvisioner({ default: urlA, 'eu-1': urlB }).servers // ['default', 'eu-1']
   */
  readonly servers?: readonly string[]
  /**
   * Runs `fn` on an admin connection to `server` (its own database, not a
   * tenant's), closed afterwards: where tenant roles are created and dropped.
   *
   * @example
   * await provisioner.admin?.('default', (client) => client.query('select 1'))
   */
  admin?<T>(server: string, fn: (client: pg.ClientBase) => Promise<T>): Promise<T>
}

function serverOf(key: DatabaseKey): string {
  return key.server ?? DEFAULT_SERVER
}

/**
 * Provisions databases on PostgreSQL servers with `CREATE DATABASE … TEMPLATE`,
 * through an admin connection per server (a role with CREATEDB), opened for
 * each call. `admins` maps each server name (`default` for tenants placed on
 * no server) to a connection string or `pg` client config; `template` is the
 * database new ones are copied from (default `template1`). The database model
 * revokes CONNECT from PUBLIC on each database it creates this way.
 *
 * @example
 * const provisioner = serverProvisioner({ default: process.env.DATABASE_URL! }, { template: 'tenant_template' })
 * const databases = new DatabasePerTenantIsolation({ router, provisioner })
 */
export function serverProvisioner(admins: Readonly<Record<string, string | pg.ClientConfig>>, options: { template?: string } = {}): DatabaseProvisioner {
  const admin = async <T>(key: DatabaseKey, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const config = admins[serverOf(key)]
    if (config === undefined) throw new TenantryError('VALIDATION_FAILED', `No admin connection is configured for server "${serverOf(key)}"`)
    return withAdmin(config, fn)
  }
  const withAdmin = async <T>(config: string | pg.ClientConfig, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client(typeof config === 'string' ? { connectionString: config } : config)
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }
  return {
    servers: Object.keys(admins),
    admin: (server, fn) => admin({ server, database: '' }, fn),
    create: (key) => admin(key, async (client) => {
      const template = options.template ? ` template ${pg.escapeIdentifier(options.template)}` : ''
      try {
        await client.query(`create database ${pg.escapeIdentifier(key.database)}${template}`)
      } catch (error) {
        if ((error as { code?: string }).code === '42P04') {
          throw new TenantryError('CONFLICT', `Tenant database "${key.database}" already exists on server "${serverOf(key)}"`, { cause: error })
        }
        throw error
      }
    }),
    drop: (key) => admin(key, async (client) => {
      await client.query(`drop database if exists ${pg.escapeIdentifier(key.database)} with (force)`)
    }),
  }
}

