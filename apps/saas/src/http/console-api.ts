/**
 * The admin API's reads for the admin console (docs/console.md): a paged,
 * searchable, sortable tenant list with live figures, one tenant's live
 * window, audit trail and migration status, and the fleet's migrations, pool
 * router and limiter. Everything the console does goes through the admin API;
 * these add no action of their own.
 */
import type { AdmissionStats, LiveView, LiveSummary } from '@tenantry/core'
import type { FleetMigrator, PoolRouter, TenantCatalog, TenantLifecycle, TenantRecord } from '@tenantry/postgres'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { adminGuard } from './admin-guard.ts'
import { everyTenant, tenantView, type TenantView } from './admin-routes.ts'
import { parseInput, slugParams } from './validation.ts'

/** What the console's reads need of Tenantry. */
export interface ConsoleSources {
  readonly tenants: TenantLifecycle
  readonly catalog: Pick<TenantCatalog, 'listAudit'>
  readonly migrator: Pick<FleetMigrator, 'status' | 'tenantStatus'>
  readonly router: Pick<PoolRouter, 'stats'> | undefined
  readonly admission: { stats?(): AdmissionStats } | undefined
  readonly live: LiveView | undefined
}

/** The live figures a tenant row carries (zeros for a tenant with no recent traffic). */
export interface LiveFigures {
  readonly rps: number
  readonly error_rate: number
  readonly p99_ms: number | null
}

/** A row of the paged tenant list. */
export type TenantRow = TenantView & { readonly placement: TenantRecord['placement']; readonly live: LiveFigures }

const SORTS = ['slug', 'name', 'status', 'plan', 'isolation', 'created_at', 'rps', 'error_rate'] as const

/** The list's query: search, a status, a column and direction, a page. */
export const tenantListQuery = z.object({
  q: z.string().max(100).optional(),
  status: z.enum(['provisioning', 'active', 'suspended', 'offboarding', 'deleted']).optional(),
  sort: z.enum(SORTS).default('slug'),
  order: z.enum(['asc', 'desc']).default('asc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict()

export type TenantListQuery = z.output<typeof tenantListQuery>

/** How long the list's snapshot of the catalog serves before it is read again. */
const SNAPSHOT_MS = 2_000

function liveOf(summary: LiveSummary | undefined): LiveFigures {
  if (summary === undefined || summary.requests === 0) return { rps: 0, error_rate: 0, p99_ms: null }
  return { rps: Math.round(summary.perSecond * 100) / 100, error_rate: Math.round(summary.errorRate * 10_000) / 10_000, p99_ms: Number.isFinite(summary.p99Ms) ? Math.round(summary.p99Ms * 10) / 10 : null }
}

/**
 * The tenant list the console pages through: a snapshot of the catalog (read
 * page by page, 500 at a time, at most every 2 s, and again after any admin
 * write), filtered, sorted (live columns from the live view) and cut into
 * one page per request, so the browser never holds 10,000 tenants.
 *
 * @example
 * const index = new TenantIndex(tenantry.tenants, live)
 * const { items, total } = await index.page({ q: 'ac', sort: 'rps', order: 'desc', limit: 50, offset: 0 })
 */
export class TenantIndex {
  readonly #tenants: TenantLifecycle
  readonly #live: LiveView | undefined
  #snapshot: { readonly at: number; readonly items: Promise<readonly TenantRecord[]> } | undefined

  constructor(tenants: TenantLifecycle, live: LiveView | undefined) {
    this.#tenants = tenants
    this.#live = live
  }

  /** Drops the snapshot: the next page reads the catalog again (after a create, a suspend, a delete). */
  invalidate(): void {
    this.#snapshot = undefined
  }

  /** One page of the filtered, sorted list, and how many tenants match. */
  async page(query: TenantListQuery): Promise<{ items: TenantRow[]; total: number }> {
    const all = await this.#all()
    const needle = query.q?.trim().toLowerCase()
    const matching = all.filter((t) => (query.status === undefined || t.status === query.status)
      && (needle === undefined || needle === '' || t.slug.includes(needle) || t.name.toLowerCase().includes(needle) || t.domains.some((d) => d.includes(needle))))
    const rows = matching.map((t) => ({ tenant: t, live: liveOf(this.#live?.summary(t.id)) }))
    const key = query.sort
    const direction = query.order === 'asc' ? 1 : -1
    rows.sort((a, b) => {
      const x = sortValue(a.tenant, a.live, key)
      const y = sortValue(b.tenant, b.live, key)
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))
      return order === 0 ? a.tenant.slug.localeCompare(b.tenant.slug) : order * direction
    })
    const items = rows.slice(query.offset, query.offset + query.limit).map(({ tenant, live }) => ({ ...tenantView(tenant), placement: tenant.placement, live }))
    return { items, total: matching.length }
  }

  #all(): Promise<readonly TenantRecord[]> {
    const now = Date.now()
    if (this.#snapshot === undefined || now - this.#snapshot.at > SNAPSHOT_MS) {
      const items = everyTenant(this.#tenants)
      this.#snapshot = { at: now, items }
      // A failed read is not kept: the next request tries again.
      items.catch(() => {
        if (this.#snapshot?.items === items) this.#snapshot = undefined
      })
    }
    return this.#snapshot.items
  }
}

function sortValue(tenant: TenantRecord, live: LiveFigures, key: TenantListQuery['sort']): string | number {
  switch (key) {
    case 'rps':
      return live.rps
    case 'error_rate':
      return live.error_rate
    case 'created_at':
      return tenant.createdAt.getTime()
    default:
      return tenant[key]
  }
}

const auditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict()
const notTenant = { config: { tenant: false } }

/**
 * The console's reads, under the admin API's prefix and guard (bare host,
 * admin token): `GET /live`, `GET /fleet`, and per tenant `/live`, `/audit`,
 * `/migrations`. The paged list is `GET /tenants?…` (admin-routes.ts asks the
 * `TenantIndex`).
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
    const slugs = new Map<string, string>()
    for (const row of top) {
      const tenant = await sources.tenants.get(row.tenantId).catch(() => undefined)
      if (tenant !== undefined) slugs.set(row.tenantId, tenant.slug)
    }
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
