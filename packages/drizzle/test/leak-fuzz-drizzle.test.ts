/**
 * Property: any query the leak fuzzer generates (joins of every kind, lateral
 * ones, subqueries in WHERE, FROM and SELECT, CTEs shadowing tenant tables, a
 * recursive walk, data-modifying CTEs, aggregates, set operations, UPDATE …
 * FROM … JOIN, DELETE with a USING list, INSERT … SELECT, RETURNING), built
 * with Drizzle's query builder or sent as raw `sql` through `db.execute()`, run
 * as tenant B through `drizzle(pool)` over Tenantry's TenantPool, gives exactly
 * what it gives unscoped on a copy of B's rows only, in every isolation model,
 * through the model's own pool and through a TenantData serving all three.
 * Nothing rewrites these queries: RLS (shared), search_path and the tenant's
 * role (schema) and the router (database) are the only walls.
 *
 * Each query runs as its own statement (a write commits), inside
 * `db.transaction()` (with or without an isolation level) or in a savepoint
 * there, committed or rolled back, sometimes prepared under one shared
 * statement name, after another tenant ran it on the same pool (or, for reads,
 * while it runs): a setting, search_path, role or prepared statement left on a
 * connection would show. A committed write must change B's rows in B's
 * placement and nothing else (every other tenant's rows are fingerprinted, B's
 * restored after it), and at the end every tenant's rows are as seeded.
 *
 * FUZZ_RUNS (default 1000) sets the queries per model and backend;
 * FUZZ_SEED / FUZZ_PATH replay a failure (see fuzz/run.ts).
 */
import { after, before, describe, it } from 'node:test'
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import { TenantData } from '@tenantry/postgres'
import { testBackends } from '@tenantry/test-kit'
import { drizzle } from 'drizzle-orm/node-postgres'
import { querySpecs } from '../../postgres/test/fuzz/generate.ts'
import type { DrizzleFuzzTarget } from './fuzz/judge.ts'
import { assertLeakCaught, assertNoLeak, RUNS } from './fuzz/run.ts'
import { fuzzTables } from './fuzz/tables.ts'
import { FuzzWorld, MODELS, PLACED_ORACLE, SHARED_ORACLE, type Trio } from './fuzz/world.ts'

const sharedTables = fuzzTables({ tenantColumn: true })
const placedTables = fuzzTables({ tenantColumn: false })
const sharedSpecs = querySpecs({ tenantColumn: true })
const placedSpecs = querySpecs({ tenantColumn: false })

/** What a target of `model` runs over: the model's tables, specs and oracle copy. */
function modelParts(model: IsolationModelName): Pick<DrizzleFuzzTarget, 'tables' | 'specs'> & { schema: string } {
  return model === 'shared'
    ? { tables: sharedTables, specs: sharedSpecs, schema: SHARED_ORACLE }
    : { tables: placedTables, specs: placedSpecs, schema: PLACED_ORACLE }
}

for (const backend of testBackends()) {
  describe(`the leak fuzzer through Drizzle on TenantPool on ${backend.name}`, () => {
    let world: FuzzWorld
    /** Each model's own TenantData, and one serving all three. */
    const datas: Partial<Record<IsolationModelName | 'all', TenantData>> = {}
    const trio = (model: IsolationModelName): Trio => world.tenants[model]!

    before(async () => {
      world = await FuzzWorld.open(backend)
      const models = world.models!
      datas.shared = new TenantData({ shared: models.shared! })
      datas.schema = new TenantData({ schema: models.schemas })
      datas.database = new TenantData({ database: models.databases })
      datas.all = new TenantData({ shared: models.shared!, schema: models.schemas, database: models.databases })
    })

    after(async () => {
      await world?.close()
    })

    /** B of `model` (or `tenant`, B misplaced) through both pools, with A and C of every model beside it on the shared one. */
    const target = (model: IsolationModelName, tenant: ScopedTenant, label: string): DrizzleFuzzTarget => {
      const [a, , c] = trio(model)
      const { schema, ...parts } = modelParts(model)
      return {
        world, model, tenant, foreignTenantIds: [a.id, c.id], label, ...parts,
        oracle: { db: drizzle(world.database.pool), schema },
        pools: {
          own: { db: drizzle(datas[model]!.pool()), others: [a, c] },
          all: { db: drizzle(datas.all!.pool()), others: MODELS.flatMap((m) => [trio(m)[0], trio(m)[2]]) },
        },
      }
    }

    for (const model of MODELS) {
      it(`gives a ${model} tenant B exactly the oracle's answer (B's rows only) for ${RUNS} random Drizzle queries, and lets its writes change B's rows only`, async (t) => {
        await assertNoLeak(t, target(model, trio(model)[1], `the ${model} model through drizzle(TenantPool)`))
      })
    }

    it('catches a leak: with RLS disabled on comments in a scratch copy of the shared world, the property fails', async () => {
      const { world: scratch, shared } = await FuzzWorld.scratch(backend, 'alter table public.comments disable row level security')
      try {
        const [a, b, c] = scratch.tenants.shared!
        const db = drizzle(new TenantData({ shared }).pool())
        await assertLeakCaught({
          world: scratch, model: 'shared', tenant: b, foreignTenantIds: [a.id, c.id], label: 'shared model, comments without RLS', ...modelParts('shared'),
          oracle: { db: drizzle(scratch.database.pool), schema: SHARED_ORACLE },
          pools: { own: { db, others: [a, c] }, all: { db, others: [a, c] } },
        })
      } finally {
        await scratch.close()
      }
    })

    for (const model of ['schema', 'database'] as const) {
      it(`catches a leak: with B's placement naming A's ${model}, the property fails`, async () => {
        const [a, b] = trio(model)
        const misplaced: ScopedTenant = { ...b, ...(a.placement ? { placement: a.placement } : {}) }
        await assertLeakCaught(target(model, misplaced, `B placed in A's ${model}`))
      })
    }
  })
}
