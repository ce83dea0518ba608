/**
 * `shape` (issue #13, item 3): what a cache of the Kysely plugin's rewrite by
 * query shape could save, against what keying the tree costs.
 *
 * Kysely builds a new operation tree for every query, so a cache would first
 * walk the tree to a key (every node's kind and identifier, values left out)
 * and look it up. This benchmark times, in Node alone (no database), per query:
 *
 * - rewrite: `TenantScopePlugin.transformQuery` inside a tenant scope (the
 *   baseline: what a hit would save at most, before re-binding values);
 * - key: the cheapest honest shape key (one walk, joined to a string) and a
 *   Map lookup of it (what every query would pay, hit or miss).
 *
 * For a point select and a two-table join with a filter, order and limit, in
 * interleaved rounds; medians. A key cheaper than the rewrite is the most a
 * cache could win: the ratio is rewrite / key.
 */
import { randomUUID } from 'node:crypto'
import { runWithTenant } from '@tenantry/core'
import { TenantScopePlugin } from '@tenantry/kysely'
import { Kysely, PostgresDialect, type RootOperationNode } from 'kysely'
import type { BenchContext, BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { median } from './harness/rounds.ts'

const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: {} as never }) })
const QUERIES: Record<'point_select' | 'join', () => RootOperationNode> = {
  point_select: () => db.selectFrom('items').selectAll().where('id', '=', Math.floor(Math.random() * 1e6)).toOperationNode(),
  join: () => db.selectFrom('projects').innerJoin('tasks', 'tasks.project_id', 'projects.id').select(['projects.id', 'tasks.title'])
    .where('tasks.status', '=', 'todo').orderBy('projects.id').limit(10).toOperationNode(),
}

/** Every node's kind and every identifier, values as '?': the least a shape key must hold. */
function keyOf(node: unknown, out: string[]): void {
  if (node === null || typeof node !== 'object') return
  if (Array.isArray(node)) {
    for (const n of node) keyOf(n, out)
    return
  }
  const o = node as Record<string, unknown>
  const kind = o.kind as string | undefined
  if (kind === 'ValueNode') {
    out.push('?')
    return
  }
  if (kind !== undefined) out.push(kind)
  for (const k in o) {
    if (k === 'kind') continue
    const v = o[k]
    if (typeof v === 'string') out.push(v)
    else if (typeof v === 'object') keyOf(v, out)
  }
}

/** µs per call of `fn` over `seconds`. */
function timed(seconds: number, fn: () => void): number {
  const until = performance.now() + seconds * 1000
  let n = 0
  const started = performance.now()
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) fn()
    n += 1000
  }
  return ((performance.now() - started) * 1000) / n
}

export const benchmark: Benchmark = {
  name: 'shape',
  summary: 'a rewrite cache by query shape: the plugin\'s rewrite against the cost of keying the tree (Node only)',
  defaults: () => ({ rounds: 7, seconds: 0.5, warmupSeconds: 0.5, concurrency: 1 }),
  async run(context: BenchContext): Promise<BenchOutcome> {
    const { settings, quick } = context
    const seconds = quick ? 0.05 : settings.seconds
    const rounds = quick ? 2 : settings.rounds
    const plugin = new TenantScopePlugin({ tables: ['items', 'projects', 'tasks'] })
    const tenant = { id: randomUUID(), slug: 'acme', status: 'active' as const }
    const queryId = { queryId: 'shape' } as never
    const cache = new Map<string, true>()
    const figures: Figure[] = []
    const notes: string[] = []
    await runWithTenant(tenant, async () => {
      for (const [name, build] of Object.entries(QUERIES)) {
        const nodes = Array.from({ length: 1000 }, build)
        let i = 0
        const rewrite = (): void => void plugin.transformQuery({ node: nodes[i++ % 1000]!, queryId })
        const key = (): void => {
          const out: string[] = []
          keyOf(nodes[i++ % 1000], out)
          const k = out.join('\u0001')
          if (cache.get(k) === undefined) cache.set(k, true)
        }
        timed(settings.warmupSeconds, rewrite)
        timed(settings.warmupSeconds, key)
        const rewrites: number[] = []
        const keys: number[] = []
        for (let round = 0; round < rounds; round++) {
          if (round % 2 === 0) {
            rewrites.push(timed(seconds, rewrite))
            keys.push(timed(seconds, key))
          } else {
            keys.push(timed(seconds, key))
            rewrites.push(timed(seconds, rewrite))
          }
        }
        figures.push(figure({ metric: `${name}_rewrite`, value: median(rewrites), unit: 'µs/query', better: 'lower', digits: 2 }))
        figures.push(figure({ metric: `${name}_shape_key`, value: median(keys), unit: 'µs/query', baseline: median(rewrites), better: 'lower', digits: 2 }))
        notes.push(`${name}: rewrite ${rewrites.map((t) => t.toFixed(2)).join(', ')} µs; shape key and lookup ${keys.map((t) => t.toFixed(2)).join(', ')} µs (rounds).`)
      }
    })
    notes.push('The ratio (rewrite / key) bounds what a shape cache could save before re-binding the query\'s values and the tenant\'s id into the cached result; docs/performance.md says why it is not built.')
    return { figures, notes }
  },
}
