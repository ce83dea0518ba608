import { TenantryError } from '@tenantry/core'
import {
  PoolRouter, postgresTarget, serverDatabases, serverProvisioner, type DatabaseProvisioner, type PostgresTarget,
} from '@tenantry/postgres'
import type pg from 'pg'
import type { DatabaseModelConfig, TenantryConfig } from './config.ts'

/** The databases a deployment runs on, opened. */
export interface Storage {
  /** The control database: the catalog, the shared tables, the tenant schemas. */
  readonly target: PostgresTarget
  /** Tenant databases (only when the database model is configured). */
  readonly router: PoolRouter | undefined
  readonly provisioner: DatabaseProvisioner | undefined
  /**
   * Where the runtime login of the shared and schema models connects, when not
   * with the target's settings: `database.url` when `directUrl` took the target.
   */
  readonly runtimeConnection?: pg.PoolConfig
  /** Where the data is, without passwords. */
  readonly describe: string
  close(): Promise<void>
}

function redacted(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'PostgreSQL'
  }
}

function databaseModel(config: TenantryConfig): DatabaseModelConfig | undefined {
  const model = config.models.database
  return model === undefined ? undefined : model === true ? {} : model
}

/** True when the error says a package could not be found. */
function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
}

async function openEmbeddedStorage(dataDir: string, database: DatabaseModelConfig | undefined): Promise<Storage> {
  let pglite: typeof import('@tenantry/postgres/pglite')
  try {
    // Loaded only for an embedded folder: an app on PostgreSQL never loads PGlite.
    pglite = await import('@tenantry/postgres/pglite')
  } catch (error) {
    if (!isMissingModule(error)) throw error
    throw new TenantryError('VALIDATION_FAILED', 'An embedded database needs PGlite: npm install @electric-sql/pglite (or set database to a postgres:// URL)', {
      cause: error,
      details: [{ path: 'config.database.embedded', message: 'needs the @electric-sql/pglite package' }],
    })
  }
  const embedded = await pglite.openEmbedded({
    dataDir,
    ...(database?.budget === undefined ? {} : { budget: database.budget }),
    ...(database?.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: database.idleTimeoutMs }),
  })
  if (database !== undefined) return embedded
  // Without the database model, no tenant database is ever opened.
  return { ...embedded, router: undefined, provisioner: undefined }
}

/**
 * A PostgreSQL server. `url` carries tenant traffic; `directUrl`, when given,
 * the owner's work (the target: catalog, installs, migrations, provisioning,
 * doctor) and the default server's owner connections, while the runtime login
 * and the default server's tenant roles connect through `url`.
 */
function openServerStorage(url: string, directUrl: string | undefined, poolSize: number, database: DatabaseModelConfig | undefined): Storage {
  const owner = directUrl ?? url
  const target = postgresTarget({ connectionString: owner, max: poolSize })
  // Servers you name are the owner's connections, used by tenant roles too; the default one is split.
  const servers = database?.servers ?? { default: owner }
  const loginServers = database?.servers === undefined && directUrl !== undefined ? { default: url } : undefined
  const router = database === undefined
    ? undefined
    : new PoolRouter({
        // Tenant roles log in the way they were provisioned: with the stored password, or none.
        databases: serverDatabases(servers, {
          loginPasswords: database.runtimePassword === 'none' ? 'none' : 'stored',
          ...(loginServers === undefined ? {} : { loginServers }),
        }),
        budget: database.budget ?? 20,
        maxPerDatabase: database.maxPerDatabase ?? 5,
        ...(database.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: database.idleTimeoutMs }),
      })
  return {
    target,
    router,
    provisioner: database === undefined ? undefined : serverProvisioner(servers),
    ...(directUrl === undefined ? {} : { runtimeConnection: { connectionString: url, max: poolSize } }),
    describe: directUrl === undefined ? `PostgreSQL at ${redacted(url)}` : `PostgreSQL at ${redacted(url)} (owner work at ${redacted(directUrl)})`,
    async close() {
      await router?.close()
      await target.pool.end()
    },
  }
}

/**
 * Opens what `config.database` names: a PostgreSQL server (a pool to the
 * control database, the owner's, on `directUrl` when given; a router and
 * provisioner for tenant databases), the
 * embedded PGlite folder, or the caller's own target (left open at close).
 */
export async function openStorage(config: TenantryConfig): Promise<Storage> {
  const { database } = config
  const model = databaseModel(config)
  if (typeof database === 'string') return openServerStorage(database, undefined, 10, model)
  if ('url' in database) return openServerStorage(database.url, database.directUrl, database.poolSize ?? 10, model)
  if ('embedded' in database) return openEmbeddedStorage(database.embedded, model)
  if (model !== undefined && (database.router === undefined || database.provisioner === undefined)) {
    throw new TenantryError('VALIDATION_FAILED', 'The database model on your own target needs { target, router, provisioner }', {
      details: [{ path: 'config.database', message: 'router and provisioner are required with models.database' }],
    })
  }
  return {
    target: database.target,
    router: model === undefined ? undefined : database.router,
    provisioner: model === undefined ? undefined : database.provisioner,
    describe: `your ${database.target.backend} target`,
    async close() {},
  }
}
