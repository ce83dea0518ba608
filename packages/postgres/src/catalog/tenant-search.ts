/**
 * Search, sort and offset paging over the catalog's tenants, for an admin
 * screen: the console's list at 10,000 tenants reads one page and a count,
 * never every row. (`TenantCatalog.list` keeps its cursor paging in creation
 * order, which is what a job walking the fleet wants.)
 */
import type pg from 'pg'
import { TenantryError, assertUuid, isStorableText, type TenantStatus } from '@tenantry/core'
import { assertOptions, assertStatus, optionalInteger } from './arguments.ts'
import { tenantColumns, toTenantRecord, type TenantRecord, type TenantRow } from './rows.ts'

/**
 * The columns a search can sort by.
 *
 * @example
 * const sort = tenantSearchSorts.includes(given as TenantSearchSort) ? given : 'slug'
 */
export const tenantSearchSorts = ['slug', 'name', 'status', 'plan', 'isolation', 'placement', 'created_at'] as const
export type TenantSearchSort = (typeof tenantSearchSorts)[number]

/**
 * Which tenants: a text to find and a status.
 *
 * @example
 * const filter: TenantFilter = { q: 'acme', status: 'active' }
 */
export interface TenantFilter {
  /** Found, case-insensitively, in the slug, the name or a custom domain; at most 100 characters. */
  readonly q?: string
  /** Only tenants in this status. Without it, every tenant not deleted. */
  readonly status?: TenantStatus
}

/**
 * A filter, an order and a page.
 *
 * @example
 * const query: TenantSearchQuery = { q: 'ac', sort: 'plan', order: 'desc', limit: 25, offset: 50 }
 */
export interface TenantSearchQuery extends TenantFilter {
  /** Default `slug`; ties are broken by slug. */
  readonly sort?: TenantSearchSort
  /** Default `asc`. */
  readonly order?: 'asc' | 'desc'
  /** 1-500, default 50. */
  readonly limit?: number
  /** 0-1,000,000, default 0. */
  readonly offset?: number
  /** Tenants to leave out (at most 100,000 ids): those a caller lists from elsewhere, such as the busiest ones. */
  readonly exceptIds?: readonly string[]
}

/**
 * One page of a search and how many tenants match it in all.
 *
 * @example
 * const { items, total }: TenantSearchPage = await search.page({ q: 'acme' })
 */
export interface TenantSearchPage {
  readonly items: readonly TenantRecord[]
  readonly total: number
}

/** A tenant's id and slug. */
export interface TenantKey {
  readonly id: string
  readonly slug: string
}

const MAX_IDS = 100_000

/** The SQL expression each sort orders by (on `tenantry.tenants t`). */
const SORT_SQL: Record<TenantSearchSort, string> = {
  slug: 't.slug',
  name: 'lower(t.name)',
  status: 't.status',
  plan: 't.plan',
  isolation: 't.isolation',
  placement: "concat_ws('/', t.placement->>'server', t.placement->>'schema', t.placement->>'database')",
  created_at: 't.created_at',
}

function fail(path: string, message: string): never {
  throw new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

function idList(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) fail(path, 'must be an array of tenant ids')
  if (value.length > MAX_IDS) fail(path, `must hold at most ${MAX_IDS} ids, got ${value.length}`)
  value.forEach((id, i) => assertUuid(id, `${path}.${i}`))
  return value as string[]
}

/** The where clause of a filter, its values appended to `values`. */
function whereOf(input: Record<string, unknown>, path: string, values: unknown[]): string[] {
  const where: string[] = []
  if (input.status !== undefined) assertStatus(input.status, `${path}.status`)
  if (input.status === 'deleted') where.push("t.status = 'deleted'")
  else {
    where.push('t.deleted_at is null')
    if (input.status !== undefined) where.push(`t.status = $${values.push(input.status)}`)
  }
  if (input.q !== undefined) {
    if (typeof input.q !== 'string' || input.q.length > 100) fail(`${path}.q`, 'must be a string of at most 100 characters')
    // PostgreSQL cannot take a NUL in text (a 500 without this) nor half of a surrogate pair: no name holds one either.
    if (!isStorableText(input.q)) fail(`${path}.q`, 'must not hold a NUL character or half of a surrogate pair')
    const needle = input.q.trim().toLowerCase()
    if (needle !== '') {
      // position(), not LIKE: a % or _ in the text is found as itself.
      const p = `$${values.push(needle)}`
      where.push(`(position(${p} in t.slug) > 0 or position(${p} in lower(t.name)) > 0
        or exists (select 1 from tenantry.domains d where d.tenant_id = t.id and position(${p} in d.domain) > 0))`)
    }
  }
  return where
}

/**
 * Finds tenants in the catalog's tables by text and status, sorted by any
 * column and cut at an offset, with the total: a count and one page of rows per
 * call, so it serves a paged admin list over any number of tenants. Built on
 * the same target or pool as the `TenantCatalog`; reads only.
 *
 * @example
 * const search = new TenantSearch({ target: tenantry.target })
 * const { items, total } = await search.page({ q: 'acme', sort: 'created_at', order: 'desc', limit: 25 })
 */
export class TenantSearch {
  readonly #pool: pg.Pool

  constructor(options: { readonly target: { readonly pool: pg.Pool } } | { readonly pool: pg.Pool }) {
    const pool = typeof options === 'object' && options !== null ? ('target' in options ? options.target?.pool : options.pool) : undefined
    if (typeof pool?.query !== 'function') {
      throw new TenantryError('VALIDATION_FAILED', 'TenantSearch needs { target } (postgresTarget/pgliteTarget, or tenantry.target) or { pool } (a pg.Pool)', {
        details: [{ path: 'options', message: 'must have a target or a pool' }],
      })
    }
    this.#pool = pool
  }

  /**
   * One page of the tenants matching the query, in its order, and how many match.
   *
   * @example
   * const second = await search.page({ status: 'suspended', sort: 'name', limit: 25, offset: 25 })
   */
  async page(input: TenantSearchQuery = {}): Promise<TenantSearchPage> {
    const query = assertOptions(input, 'query', ['q', 'status', 'sort', 'order', 'limit', 'offset', 'exceptIds'])
    const sort = (query.sort ?? 'slug') as TenantSearchSort
    if (!tenantSearchSorts.includes(sort)) fail('query.sort', `must be one of ${tenantSearchSorts.join(', ')}`)
    const order = query.order ?? 'asc'
    if (order !== 'asc' && order !== 'desc') fail('query.order', 'must be asc or desc')
    const limit = optionalInteger(query.limit, 'query.limit', 1, 500, 50)
    const offset = optionalInteger(query.offset, 'query.offset', 0, 1_000_000, 0)
    const values: unknown[] = []
    const where = whereOf(query, 'query', values)
    if (query.exceptIds !== undefined) {
      const except = idList(query.exceptIds, 'query.exceptIds')
      if (except.length > 0) where.push(`not (t.id = any($${values.push(except)}::uuid[]))`)
    }
    const direction = order === 'asc' ? 'asc' : 'desc'
    const tie = sort === 'slug' ? '' : ', t.slug asc'
    // The page's ids first (the count rides along), then their rows: the domains
    // of a row are aggregated for the page only, never for every match.
    const ids = await this.#pool.query<{ id: string; total: string }>(
      `select t.id, count(*) over () as total from tenantry.tenants t where ${where.join(' and ')}
       order by ${SORT_SQL[sort]} ${direction}${tie}, t.id
       limit $${values.push(limit)} offset $${values.push(offset)}`,
      values,
    )
    let total = Number(ids.rows[0]?.total ?? 0)
    if (ids.rows.length === 0) {
      if (offset === 0) return { items: [], total: 0 }
      // Past the end: the page is empty, the count still wanted.
      const counted = await this.#pool.query<{ n: string }>(`select count(*) as n from tenantry.tenants t where ${where.join(' and ')}`, values.slice(0, -2))
      total = Number(counted.rows[0]?.n ?? 0)
      return { items: [], total }
    }
    return { items: await this.#records(ids.rows.map((r) => r.id)), total }
  }

  /**
   * Which of `ids` match the filter (as id and slug, in no particular order):
   * for lists that order some tenants by figures kept outside the catalog.
   *
   * @example
   * const busiest = live.top('requests', 100).map((s) => s.tenantId)
   * const shown = await search.matching(busiest, { q: 'ac' })
   */
  async matching(ids: readonly string[], filter: TenantFilter = {}): Promise<TenantKey[]> {
    const given = idList(ids, 'ids')
    const values: unknown[] = []
    // The filter is checked even for no ids: a bad one is refused whatever the list.
    const where = whereOf(assertOptions(filter, 'filter', ['q', 'status']), 'filter', values)
    if (given.length === 0) return []
    where.push(`t.id = any($${values.push(given)}::uuid[])`)
    const result = await this.#pool.query<TenantKey>(`select t.id, t.slug from tenantry.tenants t where ${where.join(' and ')}`, values)
    return result.rows.map((r) => ({ id: r.id, slug: r.slug }))
  }

  /**
   * The records of `ids` (deleted tenants included), in the order given; ids
   * the catalog does not hold are left out.
   *
   * @example
   * const rows = await search.records(page.map((k) => k.id))
   */
  records(ids: readonly string[]): Promise<TenantRecord[]> {
    return this.#records(idList(ids, 'ids'))
  }

  async #records(ids: readonly string[]): Promise<TenantRecord[]> {
    if (ids.length === 0) return []
    const result = await this.#pool.query<TenantRow>(`select ${tenantColumns} from tenantry.tenants t where t.id = any($1::uuid[])`, [ids])
    const byId = new Map(result.rows.map((row) => [row.id, toTenantRecord(row)]))
    return ids.map((id) => byId.get(id)).filter((t): t is TenantRecord => t !== undefined)
  }
}
