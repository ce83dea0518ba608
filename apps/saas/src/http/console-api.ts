/**
 * The admin API's reads for the admin console (docs/console.md): a paged,
 * searchable, sortable tenant list with live figures, one tenant's live
 * window, audit trail and migration status, and the fleet's migrations, pool
 * router and limiter. Everything the console does goes through the admin API;
 * these add no action of their own.
 */
import type { AdmissionStats, LiveView, TenantJobStats } from '@tenantry/core'
import type { FleetMigrator, PoolRouter, TenantCatalog, TenantLifecycle } from '@tenantry/postgres'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { adminGuard } from './admin-guard.ts'
import { parseInput, slugParams } from './validation.ts'

export { TenantIndex, tenantListQuery, type LiveFigures, type TenantListQuery, type TenantRow } from './tenant-index.ts'

/** What the console's reads need of Tenantry. */
export interface ConsoleSources {
  readonly tenants: TenantLifecycle
  readonly catalog: Pick<TenantCatalog, 'listAudit'>
  readonly migrator: Pick<FleetMigrator, 'status' | 'tenantStatus'>
  readonly router: Pick<PoolRouter, 'stats'> | undefined
  readonly admission: { stats?(): AdmissionStats } | undefined
  readonly live: LiveView | undefined
  /** The tenant's background jobs by queue; undefined when the app runs no queue. */
  readonly jobs?: TenantJobStats | undefined
}

const auditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict()
const notTenant = { config: { tenant: false } }

/**
 * The console's reads, under the admin API's prefix and guard (bare host,
 * admin token): `GET /live`, `GET /fleet`, and per tenant `/live`, `/audit`,
 * `/migrations`, `/jobs` (queued, running, failed by queue). The paged list is `GET /tenants?…` (admin-routes.ts asks the
 * `TenantIndex` of tenant-index.ts).
 *
 * @example
 * await app.register(consoleApi, { prefix: '/admin/api', sources, token, baseDomain: 'localhost' })
 */
export async function consoleApi(app: FastifyInstance, options: { sources: ConsoleSources; token: string; baseDomain: string }): Promise<void> {
  const { sources } = options
  app.addHook('onRequest', adminGuard(options))

  app.get('/live', notTenant, async () => {
    const live = sources.live
    if (live === undefined) return { fleet: null, top: [] }
    const top = live.top('requests', 10)
    // A tenant deleted since its last request keeps its row, without a slug.
    const tenants = await Promise.all(top.map((row) => sources.tenants.get(row.tenantId).catch(() => undefined)))
    const slugs = new Map(tenants.filter((t) => t !== undefined).map((t) => [t.id, t.slug]))
    return { fleet: live.fleet(), series: live.series('*'), top: top.map((row) => ({ ...row, slug: slugs.get(row.tenantId) ?? null })) }
  })

  app.get('/tenants/:slug/live', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const tenant = await sources.tenants.get(slug)
    const live = sources.live
    return { summary: live?.summary(tenant.id) ?? null, series: live?.series(tenant.id) ?? [] }
  })

  app.get('/tenants/:slug/audit', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const { limit } = parseInput(auditQuery, request.query, 'query')
    const tenant = await sources.tenants.get(slug)
    const records = await sources.catalog.listAudit({ tenantId: tenant.id, limit })
    return { items: records.map((r) => ({ id: r.id, at: r.at.toISOString(), actor: r.actor ?? null, action: r.action, reason: r.reason ?? null, details: r.details ?? null })) }
  })

  app.get('/tenants/:slug/migrations', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const tenant = await sources.tenants.get(slug)
    const status = await sources.migrator.tenantStatus(tenant)
    return { target: status.target, migrations: status.migrations.map((m) => ({ id: m.id, state: m.state, error: m.error ?? null, at: m.at?.toISOString() ?? null })) }
  })

  app.get('/tenants/:slug/jobs', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const tenant = await sources.tenants.get(slug)
    if (sources.jobs === undefined) return { available: false, queues: [] }
    return { available: true, queues: await sources.jobs.jobCounts(tenant.id) }
  })

  app.get('/fleet', notTenant, async () => {
    const status = await sources.migrator.status()
    return {
      migrations: {
        targets: status.targets,
        control: status.control,
        tenant: status.tenant,
        failures: status.failures.map((f) => ({ ...f, at: f.at.toISOString() })),
      },
      pool: sources.router?.stats() ?? null,
      admission: sources.admission?.stats?.() ?? null,
    }
  })
}
