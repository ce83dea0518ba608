/**
 * `guard` (issue #10, item 4): what the signed tenant scope costs PostgreSQL per
 * statement.
 *
 * The tenant policy asks `tenantry_guard.tenant()` once per statement (an
 * InitPlan): it reads the scope token, looks its key up, checks the
 * HMAC-SHA256 and the expiry. This benchmark times point selects inside the
 * server (a PL/pgSQL loop, so no network or client in the figure), in
 * interleaved rounds, on copies of one table:
 *
 * - baseline: no RLS, the tenant predicate written in the query (what the
 *   plugin alone costs the server);
 * - unsigned: RLS whose policy reads a plain transaction setting (the design
 *   before this issue: a tenant's own SQL could change that setting);
 * - signed: RLS with the Tenantry policy and the signed scope (reads);
 * - signed_write: an UPDATE under the Tenantry policy, whose WITH CHECK also
 *   looks the offboarding fence up (on a table of its own: the dead rows its
 *   rolled-back updates leave would slow the reads down).
 *
 * Each figure is µs of server time per statement; its ratio is baseline/value.
 */
import { SharedSchemaIsolation } from '@tenantry/postgres'
import type { BenchContext, BenchOutcome, Benchmark } from './harness/benchmark.ts'
import { figure, type Figure } from './harness/figures.ts'
import { median } from './harness/rounds.ts'

const TENANT = '11111111-1111-4111-8111-111111111111'
const OTHER = '22222222-2222-4222-8222-222222222222'
const ROWS = 10_000

type Variant = 'baseline' | 'unsigned' | 'signed' | 'signed_write'
const VARIANTS: readonly Variant[] = ['baseline', 'unsigned', 'signed', 'signed_write']

/** The statement each variant loops over: a point select by id on its own table (or an update for the write). */
const LOOP: Record<Variant, string> = {
  baseline: `select id into x from guard_plain where id = (i % ${ROWS}) * 2 + 2 and tenant_id = '${TENANT}'`,
  unsigned: `select id into x from guard_unsigned where id = (i % ${ROWS}) * 2 + 2`,
  signed: `select id into x from guard_signed where id = (i % ${ROWS}) * 2 + 2`,
  signed_write: `update guard_signed_w set n = n + 1 where id = (i % ${ROWS}) * 2 + 2`,
}

export const benchmark: Benchmark = {
  name: 'guard',
  summary: 'server time per statement of the signed tenant scope, against the plain predicate and an unsigned setting',
  defaults: () => ({ rounds: 7, seconds: 1, warmupSeconds: 1, concurrency: 1 }),
  async run(context: BenchContext): Promise<BenchOutcome> {
    const { backend, settings, log } = context
    const pool = backend.target.pool
    const seed = `select i, case when i % 2 = 0 then '${TENANT}'::uuid else '${OTHER}'::uuid end, 0 from generate_series(1, ${ROWS * 2}) i`
    await pool.query(`
      create table guard_plain (id int primary key, tenant_id uuid not null, n int not null); create index on guard_plain (tenant_id);
      insert into guard_plain ${seed};
      create table guard_unsigned (like guard_plain including all); insert into guard_unsigned select * from guard_plain;
      create table guard_signed (like guard_plain including all); insert into guard_signed select * from guard_plain;
      create table guard_signed_w (like guard_plain including all); insert into guard_signed_w select * from guard_plain;`)
    const role = backend.uniqueName('tenantry_bench_guard')
    backend.dropRoleAtClose(role)
    const shared = new SharedSchemaIsolation(backend.target, { tables: ['guard_signed', 'guard_signed_w'], runtimeRole: role, runtimeLogin: 'switch' })
    backend.atClose(() => shared.close())
    await shared.install()
    await pool.query(`alter table guard_unsigned enable row level security; alter table guard_unsigned force row level security;
      create policy p on guard_unsigned using (tenant_id = (select nullif(current_setting('bench.tenant_id', true), '')::uuid));
      grant select on guard_unsigned, guard_plain to ${role}`)
    const token = (await shared.guard.signer()).tokenFor(TENANT)
    const client = await pool.connect()
    /** µs per statement of `variant` over `n` iterations, run as the runtime role in one transaction rolled back. */
    const time = async (variant: Variant, n: number): Promise<number> => {
      await client.query('begin')
      try {
        await client.query(`select set_config('role', $1, true), set_config('tenantry.scope', $2, true), set_config('bench.tenant_id', $3, true)`, [role, token, TENANT])
        const started = process.hrtime.bigint()
        await client.query(`do $$ declare x int; begin for i in 1..${n} loop ${LOOP[variant]}; end loop; end $$`)
        return Number(process.hrtime.bigint() - started) / 1000 / n
      } finally {
        await client.query('rollback')
      }
    }
    try {
      // Size a loop to about `seconds` on the slowest variant.
      const probe = await time('signed_write', 500)
      const iterations = context.quick ? 500 : Math.max(1000, Math.round((settings.seconds * 1e6) / probe))
      for (const variant of VARIANTS) await time(variant, Math.max(500, Math.round(iterations * settings.warmupSeconds / Math.max(settings.seconds, 0.1))))
      const samples: Record<Variant, number[]> = { baseline: [], unsigned: [], signed: [], signed_write: [] }
      const rounds = context.quick ? 2 : settings.rounds
      for (let round = 0; round < rounds; round++) {
        const order = VARIANTS.map((_, k) => VARIANTS[(k + round) % VARIANTS.length] as Variant)
        for (const variant of order) samples[variant].push(await time(variant, iterations))
        log(`round ${round + 1}/${rounds} µs/statement: ${order.map((v) => `${v} ${samples[v].at(-1)?.toFixed(2)}`).join(', ')}`)
      }
      const base = median(samples.baseline)
      const figures: Figure[] = VARIANTS.map((variant) => figure({
        metric: `point_${variant}_server_us`, value: median(samples[variant]), unit: 'µs/statement', baseline: base, better: 'lower', digits: 2,
      }))
      const signed = median(samples.signed)
      const unsigned = median(samples.unsigned)
      return {
        figures,
        notes: [
          `${ROWS * 2} rows in two tenants per table; ${iterations} statements per variant per round, ${rounds} interleaved rounds (median), inside one PL/pgSQL loop as the runtime role (no network, no client).`,
          `The signed scope costs ${(signed - unsigned).toFixed(2)} µs per statement more than an unsigned setting, ${(signed - base).toFixed(2)} µs more than the predicate alone; a write adds the fence lookup (${(median(samples.signed_write) - signed).toFixed(2)} µs over a signed read, the update's own work included).`,
        ],
      }
    } finally {
      client.release()
    }
  },
}
