/**
 * What the `http` benchmark serves: the reference SaaS (createSaas: the real
 * app, resolution, API keys, scoped data) with acme (shared), globex (schema)
 * and initech (database), each holding the same number of projects, and a
 * second Fastify app with the same route and no tenancy: a plain Kysely query
 * on the same database (acme's rows of the shared `projects` table), the same
 * validation, response shape, request ids and logging hooks.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runWithTenant } from '@tenantry/core'
import { createFastify, createLogger, createSaas, idParams, installRequestLogging, parseInput, projectOf, type Saas, type SaasDatabase } from '@tenantry/saas'
import { Kysely, PostgresDialect } from 'kysely'
import type { FastifyInstance } from 'fastify'
import type { BenchContext } from '../harness/benchmark.ts'
import { postgresUrlFromEnv } from '../harness/backend.ts'

export const MODELS = [
  { slug: 'acme', isolation: 'shared' },
  { slug: 'globex', isolation: 'schema' },
  { slug: 'initech', isolation: 'database' },
] as const

/** One thing to load: a port, the Host and key it sends, and the paths it cycles through. */
export interface HttpTarget {
  readonly name: 'baseline' | 'shared' | 'schema' | 'database' | 'shared_observed' | 'shared_traced'
  readonly port: number
  readonly host: string
  readonly authorization: string | undefined
  readonly paths: readonly string[]
}

export interface HttpBench {
  readonly saas: Saas
  readonly targets: readonly HttpTarget[]
  readonly projectsPerTenant: number
  close(): Promise<void>
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

/** The database URL of the harness's throwaway PostgreSQL database. */
export async function benchDatabaseUrl(context: Pick<BenchContext, 'backend'>): Promise<string> {
  const admin = postgresUrlFromEnv()
  if (admin === undefined) throw new Error('http on PostgreSQL needs TENANTRY_PG_URL (or DATABASE_URL)')
  const { rows } = await context.backend.target.pool.query<{ db: string }>('select current_database() as db')
  const url = new URL(admin)
  url.pathname = `/${rows[0]?.db}`
  return url.toString()
}

/**
 * Boots both apps on loopback ports and fills the tenants. On PGlite the SaaS
 * runs embedded in a temporary data folder, as `npm start` does; on PostgreSQL
 * it runs on the harness's throwaway database, its tenant database beside it.
 */
export async function prepareHttpBench(context: BenchContext, projectsPerTenant: number, pathsPerTarget: number): Promise<HttpBench> {
  const { backend, log } = context
  const dataDir = await mkdtemp(join(tmpdir(), 'tenantry-bench-http-'))
  backend.atClose(() => rm(dataDir, { recursive: true, force: true }))
  const runtimeRole = backend.uniqueName('tenantry_bench_saas')
  backend.dropRoleAtClose(runtimeRole)
  // Both apps log at warn: the per-response line is a level check, the same in both.
  const logger = createLogger({ level: 'warn' })
  const saas = await createSaas({
    config: {
      databaseUrl: backend.name === 'postgres' ? await benchDatabaseUrl(context) : undefined,
      dataDir,
      baseDomain: 'localhost',
      logLevel: 'warn',
    },
    adminToken: `bench-${backend.uniqueName('token')}`,
    logger,
    runtimeRole,
  })
  backend.atClose(async () => {
    // The database tenant's database lives beside the benchmark database.
    const { items } = await saas.tenantry.catalog.list({ limit: 500 })
    for (const tenant of items) if (tenant.isolation === 'database') await saas.tenantry.tenants.offboard(tenant.id).catch(() => undefined)
    await saas.close()
  })
  log(`SaaS up on ${saas.tenantry.describe}`)

  const targets: HttpTarget[] = []
  const tenantPort = await listen(saas.app)
  for (const { slug, isolation } of MODELS) {
    const tenant = await saas.tenantry.catalog.requireBySlug(slug)
    const ids: string[] = []
    await runWithTenant(tenant, async () => {
      for (let done = 0; done < projectsPerTenant; done += 500) {
        const rows = Array.from({ length: Math.min(500, projectsPerTenant - done) }, (_, i) => ({ name: `${slug} project ${done + i}` }))
        const inserted = await saas.tenantry.db.insertInto('projects').values(rows).returning('id').execute()
        ids.push(...inserted.map((r) => r.id))
      }
    })
    const { key } = await saas.tenantry.catalog.createApiKey(tenant.id, { name: 'bench' })
    targets.push({
      name: isolation,
      port: tenantPort,
      host: `${slug}.localhost:${tenantPort}`,
      authorization: `Bearer ${key}`,
      paths: ids.slice(0, pathsPerTarget).map((id) => `/api/projects/${id}`),
    })
    log(`${slug} (${isolation}): ${ids.length} projects`)
  }

  // The baseline: the same route on acme's rows, no tenancy at all.
  const plain = new Kysely<SaasDatabase>({ dialect: new PostgresDialect({ pool: saas.tenantry.target.pool }) })
  const baseline = createFastify(logger)
  installRequestLogging(baseline)
  baseline.get('/api/projects/:id', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'params')
    const row = await plain.selectFrom('projects').select(['id', 'name', 'created_at']).where('id', '=', id).executeTakeFirst()
    if (row === undefined) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `No project ${id}` } })
    return projectOf(row)
  })
  const baselinePort = await listen(baseline)
  backend.atClose(() => baseline.close())
  const shared = targets.find((t) => t.name === 'shared') as HttpTarget
  targets.unshift({ name: 'baseline', port: baselinePort, host: `localhost:${baselinePort}`, authorization: undefined, paths: shared.paths })
  // The same tenant with metrics, tracing and the live view on (with no OpenTelemetry SDK, then with one sampling 10 %): the run toggles them per variant.
  targets.push({ ...shared, name: 'shared_observed' }, { ...shared, name: 'shared_traced' })
  return { saas, targets, projectsPerTenant, close: async () => undefined }
}
