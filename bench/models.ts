/**
 * `models` (issue #3, item 6): what each isolation model costs per query, and
 * how the database model holds up with many tenant databases.
 *
 * (a) The isolation benchmark's point select (by primary key, 1,000 rows per
 *     tenant) in the shared, schema and database models, all through one
 *     TenantData Kysely instance, against the unscoped baseline (plain Kysely
 *     PostgresDialect, no tenancy), in the same interleaved rounds.
 * (b) Many tenant databases made from a template, Zipf-distributed traffic
 *     over them through a PoolRouter with a global budget: latency, throughput,
 *     cold-open cost, pool opens and evictions, and the peak number of server
 *     connections (pg_stat_activity), asserted to stay within the budget.
 *
 * Every database the run makes is dropped at the end, on failure and on Ctrl-C.
 */
import type { BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { postgresUrlFromEnv } from './harness/backend.ts'
import { DATABASES_ENV, runManyDatabases } from './models/many-databases.ts'
import { runPointSelect } from './models/point-select.ts'
import { pgliteDatabaseHost, serverDatabaseHost, type TenantDatabaseHost } from './models/tenant-databases.ts'

export const benchmark: Benchmark = {
  name: 'models',
  summary: 'point select in the shared, schema and database models against an unscoped baseline; many tenant databases under one connection budget',
  defaults: (backend) => ({ rounds: 7, seconds: 1.5, warmupSeconds: 1, concurrency: backend === 'pglite' ? 1 : 8 }),
  async run(context): Promise<BenchOutcome> {
    const { backend, log } = context
    let host: TenantDatabaseHost
    if (backend.name === 'postgres') {
      const adminUrl = postgresUrlFromEnv()
      if (!adminUrl) throw new Error('models on PostgreSQL needs TENANTRY_PG_URL (or DATABASE_URL): it creates tenant databases next to the benchmark database')
      host = serverDatabaseHost(adminUrl, backend)
    } else {
      host = await pgliteDatabaseHost(backend)
    }
    const point = await runPointSelect(context, host)
    log('(a) done')
    const many = await runManyDatabases(context, host, point.workload)
    const dropped = await host.dropAll()
    log(`dropped the remaining ${dropped} databases (part (a) and the template)`)
    const notes = [
      ...point.notes,
      ...many.notes,
      `Set ${DATABASES_ENV}=N to make N databases in (b) instead.`,
    ]
    if (backend.name === 'pglite') {
      notes.push('PGlite: the baseline, shared and schema models run on one in-memory instance; each tenant database is a PGlite instance in a folder of its own (a temporary directory), which is the single connection to it, so `maxPerDatabase` is 1 and the budget counts instances. All run in this Node process, on one thread.')
    }
    return { figures: [...point.figures, ...many.figures], notes, details: { summary: 'What each model sends per point select (part a)', markdown: point.details } }
  },
}
