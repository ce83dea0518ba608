import { PoolRouter, postgresTarget, serverDatabases, serverProvisioner, type DatabaseProvisioner, type PostgresTarget } from '@tenantry/postgres'

/** The databases on a PostgreSQL server. */
export interface ServerDatabases {
  readonly target: PostgresTarget
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly describe: string
  close(): Promise<void>
}

function redacted(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

/**
 * Connects to PostgreSQL with the admin (owner) URL: the main database holds the
 * control plane, the shared tables and the tenant schemas; database tenants get
 * databases of their own on the same server.
 *
 * @example
 * const server = openServer(process.env.DATABASE_URL!)
 */
export function openServer(url: string, options: { poolSize?: number; budget?: number } = {}): ServerDatabases {
  const target = postgresTarget({ connectionString: url, max: options.poolSize ?? 10 })
  const router = new PoolRouter({ databases: serverDatabases({ default: url }), budget: options.budget ?? 20, maxPerDatabase: 5 })
  return {
    target,
    router,
    provisioner: serverProvisioner({ default: url }),
    describe: `PostgreSQL at ${redacted(url)}`,
    async close() {
      await router.close()
      await target.pool.end()
    },
  }
}
