import { TenantryError } from '@tenantry/core'
import pg from 'pg'
import { DEFAULT_SERVER, type DatabaseKey } from '../../pool-router/contract.ts'

/** Creates and drops tenant databases (the serving side is the PoolRouter). */
export interface DatabaseProvisioner {
  create(key: DatabaseKey): Promise<void>
  drop(key: DatabaseKey): Promise<void>
  /**
   * The servers whose roles are cluster-wide (PostgreSQL), and a connection to
   * each as its admin: the database model's install() creates the runtime
   * login there once per server. Absent for PGlite, where each tenant
   * database is its own cluster and gets the role when it is provisioned.
   */
  readonly servers?: readonly string[]
  admin?<T>(server: string, fn: (client: pg.ClientBase) => Promise<T>): Promise<T>
}

function serverOf(key: DatabaseKey): string {
  return key.server ?? DEFAULT_SERVER
}

/**
 * Provisions databases on PostgreSQL servers with `CREATE DATABASE … TEMPLATE`,
 * through an admin connection per server (a role with CREATEDB).
 *
 * @example
 * const provisioner = serverProvisioner({ default: process.env.DATABASE_URL! }, { template: 'tenant_template' })
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

