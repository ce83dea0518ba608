/**
 * The admin console's tenant list: searched, filtered, sorted and paged by
 * the catalog (TenantSearch: a count and one page of rows per request), with
 * each row's live figures from the live view. The live columns are sorted
 * where the figures are: the tenants with a figure above zero are ranked in
 * memory (the live view holds at most its maxTenants), the rest follow from
 * the catalog by slug. No request reads every tenant.
 */
import { isStorableText, type LiveSummary, type LiveView } from '@tenantry/core'
import { TenantSearch, type PostgresTarget, type TenantFilter, type TenantRecord } from '@tenantry/postgres'
import { z } from 'zod'
import { tenantView, type TenantView } from './admin-routes.ts'

/** The live figures a tenant row carries (zeros for a tenant with no recent traffic). */
export interface LiveFigures {
  readonly rps: number
  readonly error_rate: number
  readonly p99_ms: number | null
}

/** A row of the paged tenant list. */
export type TenantRow = TenantView & { readonly placement: TenantRecord['placement']; readonly live: LiveFigures }

const SORTS = ['slug', 'name', 'status', 'plan', 'isolation', 'placement', 'created_at', 'rps', 'error_rate'] as const

/**
 * The list's query: search, a status, a column and direction, a page.
 *
 * @example
 * const query = parseInput(tenantListQuery, request.query, 'query')
 */
export const tenantListQuery = z.object({
  // One issue at most: the length first, then the text (PostgreSQL refuses a NUL: a 500 without this).
  q: z.string().superRefine((q, context) => {
    const problem = q.length > 100 ? 'must be at most 100 characters' : !isStorableText(q) ? 'must not hold a NUL character or half of a surrogate pair' : undefined
    if (problem !== undefined) context.addIssue({ code: z.ZodIssueCode.custom, message: problem })
  }).optional(),
  status: z.enum(['provisioning', 'active', 'suspended', 'offboarding', 'deleted']).optional(),
  sort: z.enum(SORTS).default('slug'),
  order: z.enum(['asc', 'desc']).default('asc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
}).strict()

export type TenantListQuery = z.output<typeof tenantListQuery>

function liveOf(summary: LiveSummary | undefined): LiveFigures {
  if (summary === undefined || summary.requests === 0) return { rps: 0, error_rate: 0, p99_ms: null }
  return { rps: Math.round(summary.perSecond * 100) / 100, error_rate: Math.round(summary.errorRate * 10_000) / 10_000, p99_ms: Number.isFinite(summary.p99Ms) ? Math.round(summary.p99Ms * 10) / 10 : null }
}

/**
 * Pages of the tenant list for `GET /admin/api/tenants?q=&status=&sort=&order=&limit=&offset=`.
 *
 * @example
 * const index = new TenantIndex({ target: tenantry.target }, live)
 * const { items, total } = await index.page(tenantListQuery.parse({ q: 'ac', sort: 'rps', order: 'desc' }))
 */
export class TenantIndex {
  readonly #search: TenantSearch
  readonly #live: LiveView | undefined

  constructor(catalog: { readonly target: PostgresTarget }, live: LiveView | undefined) {
    this.#search = new TenantSearch({ target: catalog.target })
    this.#live = live
  }

  /** One page of the filtered, sorted list, and how many tenants match. */
  async page(query: TenantListQuery): Promise<{ items: TenantRow[]; total: number }> {
    const filter: TenantFilter = { ...(query.q === undefined ? {} : { q: query.q }), ...(query.status === undefined ? {} : { status: query.status }) }
    if (query.sort !== 'rps' && query.sort !== 'error_rate') {
      const { items, total } = await this.#search.page({ ...filter, sort: query.sort, order: query.order, limit: query.limit, offset: query.offset })
      return { items: items.map((t) => this.#row(t)), total }
    }
    return this.#byLiveFigure(filter, query.sort === 'rps' ? 'perSecond' : 'errorRate', query)
  }

  /**
   * Sorted by a live figure: the matching tenants whose figure is above zero,
   * ranked here (ties by slug), and every other match, by slug, from the
   * catalog; descending puts the ranked ones first, ascending last.
   */
  async #byLiveFigure(filter: TenantFilter, figure: 'perSecond' | 'errorRate', query: TenantListQuery): Promise<{ items: TenantRow[]; total: number }> {
    const live = this.#live
    const figures = new Map<string, number>()
    if (live !== undefined) for (const s of live.top('requests', live.size)) if (s[figure] > 0) figures.set(s.tenantId, s[figure])
    const direction = query.order === 'asc' ? 1 : -1
    const ranked = (await this.#search.matching([...figures.keys()], filter))
      .sort((a, b) => (figures.get(a.id)! - figures.get(b.id)!) * direction || a.slug.localeCompare(b.slug))
    const exceptIds = ranked.map((k) => k.id)
    const { limit, offset } = query
    const rest = (restOffset: number, restLimit: number) =>
      this.#search.page({ ...filter, sort: 'slug', order: 'asc', exceptIds, offset: restOffset, limit: Math.max(1, restLimit) })
    let records: TenantRecord[]
    let total: number
    if (direction === -1) {
      const first = ranked.slice(offset, offset + limit)
      const after = await rest(Math.max(0, offset - ranked.length), limit - first.length)
      records = [...(await this.#search.records(first.map((k) => k.id))), ...after.items.slice(0, limit - first.length)]
      total = ranked.length + after.total
    } else {
      const before = await rest(offset, limit)
      const start = Math.max(0, offset - before.total)
      const last = ranked.slice(start, start + limit - before.items.length)
      records = [...before.items, ...(await this.#search.records(last.map((k) => k.id)))]
      total = before.total + ranked.length
    }
    return { items: records.map((t) => this.#row(t)), total }
  }

  #row(tenant: TenantRecord): TenantRow {
    return { ...tenantView(tenant), placement: tenant.placement, live: liveOf(this.#live?.summary(tenant.id)) }
  }
}
