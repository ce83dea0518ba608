import type { ScopedTenant } from '@tenantry/core'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type pg from 'pg'

export interface WorkloadShape {
  readonly tenantCount: number
  readonly rowsPerTenant: number
  /** Categories owned by each tenant; rowsPerTenant must be a multiple. */
  readonly categoriesPerTenant: number
}

export interface WorkloadTenant {
  readonly tenant: ScopedTenant
  /** This tenant's row ids. */
  readonly ids: Int32Array
  /** Its categories are firstCategory .. firstCategory + categoriesPerTenant - 1. */
  readonly firstCategory: number
}

export interface Workload extends WorkloadShape {
  readonly tenants: readonly WorkloadTenant[]
  /** Seconds the load took. */
  readonly seconds: number
}

/**
 * Creates and fills `items` as the admin in one `insert … select` over
 * generate_series: rows of all tenants interleaved (row g·T + k is tenant k's),
 * as concurrent sign-ups would leave them, then the indexes and ANALYZE.
 */
export async function createWorkload(pool: pg.Pool, shape: WorkloadShape): Promise<Workload> {
  if (shape.rowsPerTenant % shape.categoriesPerTenant !== 0) throw new Error('rowsPerTenant must be a multiple of categoriesPerTenant')
  const started = performance.now()
  const tenantIds = Array.from({ length: shape.tenantCount }, () => randomUUID())
  await pool.query(`create table items (
    id bigint generated always as identity primary key,
    tenant_id uuid not null,
    category int not null,
    name text not null,
    amount int not null
  )`)
  await pool.query(
    `insert into items (tenant_id, category, name, amount)
     select t.id, (t.ord - 1) * $2::int + g % $2::int, 'item ' || g, (g * 7919) % 10000
       from generate_series(0, $3::int - 1) as g
      cross join unnest($1::uuid[]) with ordinality as t(id, ord)
      order by g, t.ord`,
    [tenantIds, shape.categoriesPerTenant, shape.rowsPerTenant],
  )
  await pool.query('create index items_tenant_category on items (tenant_id, category)')
  await pool.query('create index items_tenant on items (tenant_id)')
  // The unscoped baseline filters on category alone; without this it would scan the table.
  await pool.query('create index items_category on items (category)')
  await pool.query('analyze items')
  const rows = (await pool.query<{ tenant_id: string; ids: number[] }>(
    'select tenant_id, array_agg(id::int order by id) as ids from items group by tenant_id',
  )).rows
  const idsOf = new Map(rows.map((r) => [r.tenant_id, r.ids]))
  const tenants = tenantIds.map((id, index): WorkloadTenant => {
    const ids = idsOf.get(id)
    if (!ids || ids.length !== shape.rowsPerTenant) throw new Error(`tenant ${index} has ${ids?.length ?? 0} rows, expected ${shape.rowsPerTenant}`)
    const slug = `tenant-${String(index + 1).padStart(3, '0')}`
    return { tenant: Object.freeze({ id, slug, status: 'active' }), ids: Int32Array.from(ids), firstCategory: index * shape.categoriesPerTenant }
  })
  return { ...shape, tenants, seconds: (performance.now() - started) / 1000 }
}
