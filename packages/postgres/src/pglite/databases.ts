import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'
import { pglitePgConfig } from './pg-config.ts'
import { TenantryError, validationError } from '@tenantry/core'
import pg from 'pg'
import { DEFAULT_SERVER, describeKey, type PhysicalConnection, type ResolvedDatabaseKey, type TenantDatabases } from '../pool-router/contract.ts'

/**
 * Where the embedded tenant databases live.
 *
 * @example
 * const options: PgliteDatabasesOptions = { dataDir: './.tenantry/databases', create: true }
 */
export interface PgliteDatabasesOptions {
  /** The folder holding one sub-folder per tenant database. */
  readonly dataDir: string
  /**
   * Create a database that has no folder yet on its first use. Default false:
   * serving a tenant whose database was never provisioned is
   * TENANT_PLACEMENT_MISSING, not a silently empty database.
   */
  readonly create?: boolean
  /**
   * A data-folder dump (`await pglite.dumpDataDir('none')`) each new database
   * starts from instead of running initdb: several times faster, and it can
   * carry the tenant schema. A function is called once, on first need.
   */
  readonly template?: Blob | (() => Promise<Blob>)
  /** The server name this folder stands for in placements. Default `default`. */
  readonly server?: string
  /** Passed on to `PGlite.create` (extensions, debug, …). */
  readonly pgliteOptions?: Omit<PGliteOptions, 'dataDir' | 'loadDataDir'>
}

function ignore(): void {}

/**
 * A folder name for a database name: reversible, one per name, and safe on
 * any file system ("/", "\\", ":", "*", "." and the like are escaped). Names
 * differing only in letter case collide on case-insensitive file systems.
 *
 * @example
 * databaseFolderName('tenant_acme') // 'tenant_acme'
 * databaseFolderName('../etc')      // '%2E%2E%2Fetc'
 */
export function databaseFolderName(database: string): string {
  return encodeURIComponent(database).replace(/[.*!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/**
 * Tenant databases as PGlite instances, one per sub-folder of `dataDir`. An
 * instance is the database's single connection: it is opened (a second or
 * more) by the router's first acquire for it, holds one permit of the budget
 * while open, and is closed when the router closes that connection (idle,
 * reclaimed for another database, evicted).
 *
 * @example
 * const router = new PoolRouter({
 *   databases: pgliteDatabases({ dataDir: './.tenantry/databases', create: true }),
 *   budget: 8, // at most 8 PGlite instances in memory
 * })
 */
export function pgliteDatabases(options: PgliteDatabasesOptions): TenantDatabases {
  if (typeof options?.dataDir !== 'string' || options.dataDir.length === 0) {
    throw validationError([{ path: 'options.dataDir', message: 'must be the folder holding the tenant databases' }])
  }
  const { dataDir, create = false, server = DEFAULT_SERVER, pgliteOptions = {} } = options
  let template: Promise<Blob> | undefined
  const templateBlob = (): Promise<Blob> | undefined => {
    if (options.template === undefined) return undefined
    template ??= typeof options.template === 'function' ? options.template() : Promise.resolve(options.template)
    return template
  }
  // Two instances on one folder would corrupt it; the router never does that, a second router could.
  const open = new Set<string>()

  return {
    backend: 'pglite',
    maxConnectionsPerDatabase: 1,
    separateLogins: false,
    async connect(key: ResolvedDatabaseKey): Promise<PhysicalConnection> {
      if (key.server !== server) {
        throw new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant ${describeKey(key)} names a server that is not configured.`, {
          details: { server: key.server },
        })
      }
      const folder = join(dataDir, databaseFolderName(key.database))
      if (open.has(folder)) {
        throw new TenantryError('INTERNAL', `The PGlite ${describeKey(key)} is already open; give each pgliteDatabases() to one PoolRouter.`)
      }
      open.add(folder)
      try {
        const exists = existsSync(join(folder, 'PG_VERSION'))
        if (!exists && !create) {
          throw new TenantryError('TENANT_PLACEMENT_MISSING', `The tenant ${describeKey(key)} does not exist; provision it before serving the tenant.`)
        }
        if (!exists) await mkdir(dataDir, { recursive: true })
        const loadDataDir = exists ? undefined : await templateBlob()
        const pglite = await PGlite.create(folder, loadDataDir === undefined ? pgliteOptions : { ...pgliteOptions, loadDataDir })
        const client = new pg.Client(pglitePgConfig(pglite) as pg.ClientConfig)
        client.on('error', ignore)
        try {
          await client.connect()
        } catch (error) {
          await pglite.close().catch(ignore)
          throw error
        }
        let closing: Promise<void> | undefined
        const close = (): Promise<void> => {
          closing ??= (async () => {
            await client.end().catch(ignore)
            await pglite.close().catch(ignore)
            open.delete(folder)
          })()
          return closing
        }
        return { client, close }
      } catch (error) {
        open.delete(folder)
        throw error
      }
    },
  }
}
