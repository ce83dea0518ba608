import { SharedSchemaIsolation, TenantData, type DriverStats, type SharedWalls, type TenantPool } from '@tenantry/postgres'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely'
import type pg from 'pg'
import type { BenchContext } from '../harness/benchmark.ts'
import type { BenchDB } from './queries.ts'
import { countRoundTrips } from './round-trips.ts'
import { createWorkload, type Workload } from './workload.ts'

const WALLS: Record<'plugin' | 'rls' | 'plugin_rls', SharedWalls> = {
  plugin: { plugin: true, rls: false },
  rls: { plugin: false, rls: true },
  plugin_rls: { plugin: true, rls: true },
}

/** Everything the variants run on, made once per backend. */
export interface Setup {
  readonly workload: Workload
  readonly pool: pg.Pool
  readonly baseline: Kysely<BenchDB>
  readonly scoped: Record<'plugin' | 'rls' | 'plugin_rls', { isolation: SharedSchemaIsolation; db: Kysely<BenchDB> }>
  /** plugin_rls with the statement cache off: every statement parsed and planned again, as before the cache. */
  readonly uncached: Kysely<BenchDB>
  /** Plain Kysely (no tenancy) over the same pool with named prepared statements: the pure cost of isolation. */
  readonly cachedBaseline: Kysely<BenchDB>
  /** `TenantData.pool()` over the default (plugin_rls) model, its stats, and Drizzle over it and over the plain pool. */
  readonly scopedPool: { pool: TenantPool; stats: DriverStats; drizzle: NodePgDatabase }
  readonly plainDrizzle: NodePgDatabase
  readonly runtimeRole: string
  /** The signed scope token of a tenant (what the policies verify). */
  readonly scopeToken: (tenantId: string) => string
  readonly clientQueries: () => number
}

/**
 * The workload, the three walled models (installed, doctor-clean), the scoped
 * pool over the default one, and a round-trip counter on every pool.
 */
export async function prepare(context: BenchContext): Promise<Setup> {
  const { backend, log } = context
  const { pool } = backend.target
  const clientQueries = countRoundTrips(pool)
  const workload = await createWorkload(pool, { tenantCount: 100, rowsPerTenant: 1000, categoriesPerTenant: 100 })
  log(`workload: ${workload.tenants.length} tenants × ${workload.rowsPerTenant} rows in ${workload.seconds.toFixed(1)} s`)

  const runtimeRole = backend.uniqueName('tenantry_bench_app')
  backend.dropRoleAtClose(runtimeRole)
  // RLS is a property of the table, so the plugin-only variant runs as a role that
  // bypasses it (set after its install, which would take BYPASSRLS away): only the
  // plugin stands between tenants there. The baseline runs as the owner (superuser).
  const pluginRole = backend.uniqueName('tenantry_bench_plugin')
  backend.dropRoleAtClose(pluginRole)
  const walled = (walls: SharedWalls): Setup['scoped']['plugin'] => {
    const isolation = new SharedSchemaIsolation(backend.target, { tables: ['items'], runtimeRole: walls.rls ? runtimeRole : pluginRole, walls })
    backend.atClose(() => isolation.close())
    return { isolation, db: isolation.kysely<BenchDB>() }
  }
  const scoped: Setup['scoped'] = { plugin: walled(WALLS.plugin), rls: walled(WALLS.rls), plugin_rls: walled(WALLS.plugin_rls) }
  await scoped.plugin_rls.isolation.install()
  await scoped.plugin.isolation.install()
  await pool.query(`alter role ${pluginRole} bypassrls`)
  // Tenant queries run on the runtime login's pool (PostgreSQL) or the one connection (PGlite): count there too.
  const counters = [clientQueries]
  for (const runtimePool of new Set(await Promise.all(Object.values(scoped).map(({ isolation }) => isolation.ready())))) {
    if (runtimePool !== pool) counters.push(countRoundTrips(runtimePool))
  }
  for (const [name, { isolation }] of Object.entries(scoped)) {
    const report = await isolation.doctor()
    const errors = report.findings.filter((f) => f.severity === 'error')
    if (errors.length) throw new Error(`doctor refused the ${name} configuration: ${errors.map((f) => f.message).join(' ')}`)
  }
  // The pool as an app gets it: TenantData over the shared model with its default walls.
  const data = new TenantData({ shared: scoped.plugin_rls.isolation })
  const tenantPool = data.pool()
  backend.atClose(() => tenantPool.end())
  return {
    workload,
    pool,
    baseline: new Kysely<BenchDB>({ dialect: new PostgresDialect({ pool }) }),
    scoped,
    uncached: scoped.plugin_rls.isolation.kysely<BenchDB>({ statementCache: 'off' }),
    cachedBaseline: new Kysely<BenchDB>({ dialect: new PostgresDialect({ pool: namedStatements(pool) }) }),
    scopedPool: { pool: tenantPool, stats: data.stats, drizzle: drizzle({ client: tenantPool }) },
    plainDrizzle: drizzle({ client: pool }),
    runtimeRole,
    scopeToken: await (async () => {
      const signer = await scoped.plugin_rls.isolation.guard.signer()
      return (tenantId: string) => signer.tokenFor(tenantId)
    })(),
    clientQueries: () => counters.reduce((sum, count) => sum + count(), 0),
  }
}

/**
 * The pool as Kysely's PostgresDialect sees it, every query sent as a named
 * prepared statement (node-postgres parses a name once per connection): the
 * baseline with a statement cache and no tenancy.
 */
function namedStatements(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>()
  const nameOf = (text: string): string => {
    let name = names.get(text)
    if (name === undefined) names.set(text, (name = `bench_${names.size + 1}`))
    return name
  }
  return {
    async connect() {
      const client = await pool.connect()
      const named = {
        query: (text: string, values?: unknown[]) => client.query({ name: nameOf(text), text, values: values ?? [] }),
        release: () => client.release(),
      }
      return named as unknown as PostgresPoolClient
    },
    async end() {},
  }
}
