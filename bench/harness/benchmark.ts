import type { BenchBackend } from './backend.ts'
import type { Figure } from './figures.ts'

/** How long and how hard a benchmark runs; CLI flags override the benchmark's defaults. */
export interface RunSettings {
  /** Measured rounds; every variant runs once per round, in rotating order. */
  readonly rounds: number
  /** Seconds each variant runs per round. */
  readonly seconds: number
  /** Seconds each variant runs before the first round (JIT, caches, pool). */
  readonly warmupSeconds: number
  /** Concurrent clients (and the pool's size). PGlite is one connection, so 1 there. */
  readonly concurrency: number
}

/** What the harness hands a benchmark for one backend. */
export interface BenchContext {
  readonly backend: BenchBackend
  readonly settings: RunSettings
  /** `--quick`: check the benchmark end to end at a small scale; nothing measured is kept. */
  readonly quick: boolean
  /** Progress for the operator (stderr); not recorded. */
  log(message: string): void
}

/** What one run of a benchmark found. */
export interface BenchOutcome {
  readonly figures: readonly Figure[]
  /** Workload, checks and per-round detail: bullets under the table in docs/benchmarks.md. */
  readonly notes: readonly string[]
  /** Longer evidence (SQL, plans), as markdown in a collapsed block under the notes. */
  readonly details?: { readonly summary: string; readonly markdown: string }
}

/**
 * The contract of `bench/<name>.ts`: its module exports `benchmark`.
 *
 * @example
 * export const benchmark: Benchmark = {
 *   name: 'models',
 *   summary: 'one query per isolation model against the shared baseline',
 *   defaults: (backend) => ({ rounds: 5, seconds: 2, warmupSeconds: 1, concurrency: backend === 'pglite' ? 1 : 8 }),
 *   async run({ backend, settings, log }) { return { figures: [], notes: [] } },
 * }
 */
export interface Benchmark {
  readonly name: string
  readonly summary: string
  defaults(backend: BenchBackend['name']): RunSettings
  run(context: BenchContext): Promise<BenchOutcome>
}
