import { runWithTenant } from '@tenantry/core'
import { eq } from 'drizzle-orm'
import { items, queryShapes, type QueryShape } from './queries.ts'
import type { Setup } from './setup.ts'
import type { WorkloadTenant } from './workload.ts'

/** What `inspect` found: a note for the run, and SQL and plans as markdown. */
export interface Inspection {
  readonly note: string
  readonly markdown: string
}

const cellText = (text: string): string => text.replaceAll('|', '\\|')

/**
 * Before timing anything: every wall really isolates (another tenant's id finds
 * nothing), the SQL each variant sends, its plan, and what the driver counts per query.
 */
export async function inspect(setup: Setup, log: (message: string) => void): Promise<Inspection> {
  const [a, b] = setup.workload.tenants as [WorkloadTenant, WorkloadTenant]
  await checkWalls(setup, a, b)
  const markdown: string[] = []
  for (const query of queryShapes(setup.workload)) {
    const argument = query.pick(a)
    markdown.push(`\`${query.name}\``, '', '| variant | SQL | plan | per query: round trips / statements / transactions |', '|---|---|---|---|')
    const base = query.build(setup.baseline, argument).compile()
    const basePlan = await planOf(setup, base.sql, base.parameters, undefined)
    markdown.push(`| baseline | \`${cellText(base.sql)}\` | ${cellText(basePlan)} | 1 / 1 / 0 (autocommit) |`)
    log(`${query.name} baseline: ${base.sql} -> ${basePlan}`)
    for (const [name, { db, isolation }] of Object.entries(setup.scoped)) {
      const compiled = runWithTenant(a.tenant, () => query.build(db, argument).compile())
      const rls = isolation.options.walls.rls ? a.tenant.id : undefined
      const plan = await planOf(setup, compiled.sql, compiled.parameters, rls)
      const before = { ...isolation.stats }
      const clientBefore = setup.clientQueries()
      const n = 50
      for (let i = 0; i < n; i++) await runWithTenant(a.tenant, () => query.build(db, query.pick(a)).execute())
      const per = (k: 'roundTrips' | 'statements' | 'transactions'): number => (isolation.stats[k] - before[k]) / n
      const client = (setup.clientQueries() - clientBefore) / n
      if (client !== per('roundTrips')) log(`warning: ${name}: ${client} pg client.query calls per query but isolation.stats counts ${per('roundTrips')} round trips`)
      markdown.push(`| ${name} | \`${cellText(compiled.sql)}\` | ${cellText(plan)} | ${per('roundTrips')} / ${per('statements')} / ${per('transactions')} |`)
      log(`${query.name} ${name}: ${compiled.sql} -> ${plan}; per query ${per('roundTrips')} round trips, ${per('statements')} statements, ${per('transactions')} transactions`)
    }
    markdown.push(`| naive_rls | baseline's, after \`begin\` and \`set_config\` | as rls | 4 / 4 / 1 |`)
    markdown.push(...(await poolRows(setup, query, a, argument, log)), '')
  }
  return {
    note: 'Checked before timing: the admin finds the other tenant\'s row; in each walled variant (`plugin`, `rls`, `plugin_rls`, `pg_pool`, `drizzle_pool`) a point select of it returns no row; the TenantPool refuses a query outside a tenant scope; every timed query checks its row count and tenant.',
    markdown: markdown.join('\n').trimEnd(),
  }
}

/**
 * Tenant `a` asks for a row of tenant `b` by id in every walled variant and must
 * find nothing, where the admin finds it; the scoped pool must refuse a query
 * outside any scope rather than run it as someone.
 */
async function checkWalls(setup: Setup, a: WorkloadTenant, b: WorkloadTenant): Promise<void> {
  const foreignId = b.ids[0] as number
  const owner = await setup.pool.query<{ tenant_id: string }>('select tenant_id from items where id = $1', [foreignId])
  if (owner.rows[0]?.tenant_id !== b.tenant.id) throw new Error(`the admin does not find row ${foreignId} of tenant ${b.tenant.slug}: the wall check would prove nothing`)
  const leak = (name: string, rows: readonly unknown[]): void => {
    if (rows.length !== 0) throw new Error(`${name}: tenant ${a.tenant.slug} read a row of tenant ${b.tenant.slug}`)
  }
  for (const [name, { db }] of Object.entries(setup.scoped)) {
    leak(name, await runWithTenant(a.tenant, () => db.selectFrom('items').selectAll().where('id', '=', String(foreignId)).execute()))
  }
  const { pool, drizzle: scopedDrizzle } = setup.scopedPool
  leak('pg_pool', (await runWithTenant(a.tenant, () => pool.query('select * from items where id = $1', [foreignId]))).rows)
  leak('drizzle_pool', await runWithTenant(a.tenant, () => scopedDrizzle.select().from(items).where(eq(items.id, foreignId)).execute()))
  const unscoped = await pool.query('select * from items where id = $1', [foreignId]).then(
    (result) => `returned ${result.rows.length} row(s)`,
    (error: unknown) => ((error as { code?: unknown }).code === 'TENANT_CONTEXT_MISSING' ? undefined : `failed with ${(error as Error).message}`),
  )
  if (unscoped !== undefined) throw new Error(`pg_pool outside a tenant scope ${unscoped}; expected TENANT_CONTEXT_MISSING`)
}

/**
 * The details rows of the plain pg and Drizzle variants: SQL, plan, and what one
 * query costs, counted over 50 queries (the pool's stats, checked against the
 * pg client.query calls; the baselines' calls).
 */
async function poolRows(setup: Setup, query: QueryShape, a: WorkloadTenant, argument: number, log: (message: string) => void): Promise<string[]> {
  const { pool, stats, drizzle: scopedDrizzle } = setup.scopedPool
  const drizzleSql = query.drizzle(setup.plainDrizzle, argument).toSQL().sql
  const rows: string[] = []
  const n = 50
  const perQuery = async (run: () => Promise<unknown>): Promise<{ client: number; roundTrips: number; statements: number; transactions: number }> => {
    const before = { ...stats }
    const clientBefore = setup.clientQueries()
    for (let i = 0; i < n; i++) await run()
    return {
      client: (setup.clientQueries() - clientBefore) / n,
      roundTrips: (stats.roundTrips - before.roundTrips) / n,
      statements: (stats.statements - before.statements) / n,
      transactions: (stats.transactions - before.transactions) / n,
    }
  }
  const plans = {
    plain: await planOf(setup, query.sql, [argument], undefined),
    scoped: await planOf(setup, query.sql, [argument], a.tenant.id),
    drizzlePlain: await planOf(setup, drizzleSql, [argument], undefined),
    drizzleScoped: await planOf(setup, drizzleSql, [argument], a.tenant.id),
  }
  const variants: { name: string; sql: string; plan: string; run: () => Promise<unknown>; scoped: boolean }[] = [
    { name: 'pg_baseline', sql: query.sql, plan: plans.plain, run: () => setup.pool.query(query.sql, [query.pick(a)]), scoped: false },
    { name: 'pg_pool', sql: query.sql, plan: plans.scoped, run: () => runWithTenant(a.tenant, () => pool.query(query.sql, [query.pick(a)])), scoped: true },
    { name: 'drizzle_baseline', sql: drizzleSql, plan: plans.drizzlePlain, run: () => query.drizzle(setup.plainDrizzle, query.pick(a)).execute(), scoped: false },
    { name: 'drizzle_pool', sql: drizzleSql, plan: plans.drizzleScoped, run: () => runWithTenant(a.tenant, () => query.drizzle(scopedDrizzle, query.pick(a)).execute()), scoped: true },
  ]
  for (const v of variants) {
    const per = await perQuery(v.run)
    let cost: string
    if (v.scoped) {
      if (per.client !== per.roundTrips) log(`warning: ${v.name}: ${per.client} pg client.query calls per query but the pool's stats count ${per.roundTrips} round trips`)
      cost = `${per.roundTrips} / ${per.statements} / ${per.transactions}`
    } else {
      if (per.client !== 1) log(`warning: ${v.name}: ${per.client} pg client.query calls per query, expected 1`)
      cost = `${per.client} / 1 / 0 (autocommit)`
    }
    rows.push(`| ${v.name} | \`${cellText(v.sql)}\` | ${cellText(v.plan)} | ${cost} |`)
    log(`${query.name} ${v.name}: ${v.sql} -> ${v.plan}; per query ${cost} (round trips / statements / transactions), ${per.client} pg client.query calls`)
  }
  return rows
}

/** A one-line EXPLAIN of `sql`, as the runtime role with the tenant set when `tenantId` is given. */
async function planOf(setup: Setup, sql: string, parameters: readonly unknown[], tenantId: string | undefined): Promise<string> {
  const client = await setup.pool.connect()
  try {
    await client.query('begin')
    if (tenantId !== undefined) {
      await client.query(`select set_config('role', $1, true), set_config('tenantry.scope', $2, true)`, [setup.runtimeRole, setup.scopeToken(tenantId)])
    }
    const plan = await client.query<{ 'QUERY PLAN': string }>(`explain (costs off) ${sql}`, [...parameters])
    return plan.rows.map((r) => r['QUERY PLAN'].trim()).join('; ')
  } finally {
    await client.query('rollback').catch(() => undefined)
    client.release()
  }
}
