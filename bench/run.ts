/**
 * The benchmark harness: `npm run bench -- <name> [flags]` (see docs/benchmarks.md).
 *
 * @example
 * npm run bench -- isolation                      # PGlite, or PostgreSQL when TENANTRY_PG_URL is set
 * npm run bench -- isolation --backend both --rounds 9
 */
import { parseArgs } from 'node:util'
import type { Benchmark } from './harness/benchmark.ts'
import type { BackendName } from './harness/backend.ts'

/**
 * Every benchmark by name. DESIGN §5 also plans `migrate`, `http`,
 * `ratelimit` and `noisy`: write `bench/<name>.ts` exporting `benchmark: Benchmark`
 * (see harness/benchmark.ts) and add a line here. Modules load lazily, so one
 * benchmark's imports cannot break the others.
 */
const registry: Record<string, () => Promise<{ benchmark: Benchmark }>> = {
  isolation: () => import('./isolation.ts'),
  models: () => import('./models.ts'),
  ratelimit: () => import('./ratelimit.ts'),
  migrate: () => import('./migrate.ts'),
  http: () => import('./http.ts'),
  noisy: () => import('./noisy.ts'),
  guard: () => import('./guard.ts'),
  shape: () => import('./shape.ts'),
  jobs: () => import('./jobs.ts'),
}

const usage = `usage: npm run bench -- <name> [flags]

benchmarks: ${Object.keys(registry).join(', ')}

flags:
  --backend pglite|postgres|both   default: postgres when TENANTRY_PG_URL (or DATABASE_URL) is set, else pglite
  --rounds N                       measured rounds (median taken)
  --seconds S                      seconds per variant per round
  --warmup S                       warm-up seconds per variant
  --concurrency N                  concurrent clients and pool size (PGlite: always 1)
  --quick                          2 short rounds, to check the harness (not a measurement)
  --no-doc                         do not append the run to docs/benchmarks.md
  --check                          exit 3 when a goal is missed`

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`)
  process.exit(1)
}

function positiveNumber(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) fail(`--${flag} must be a non-negative number, got "${raw}"`)
  return value
}

async function main(): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        backend: { type: 'string' },
        rounds: { type: 'string' },
        seconds: { type: 'string' },
        warmup: { type: 'string' },
        concurrency: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-doc': { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (error) {
    fail((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(usage)
    return
  }
  const [name, ...extra] = positionals
  if (name === undefined) fail('which benchmark?')
  if (extra.length) fail(`one benchmark per run; got ${positionals.join(', ')}`)
  const load = Object.hasOwn(registry, name) ? registry[name] : undefined
  if (load === undefined) fail(`unknown benchmark "${name}"; known: ${Object.keys(registry).join(', ')}`)

  const { postgresUrlFromEnv } = await import('./harness/backend.ts')
  const choice = values.backend ?? (postgresUrlFromEnv() ? 'postgres' : 'pglite')
  const backends: BackendName[] =
    choice === 'both' ? ['pglite', 'postgres'] : choice === 'pglite' || choice === 'postgres' ? [choice] : fail(`--backend must be pglite, postgres or both, got "${choice}"`)
  if (backends.includes('postgres') && !postgresUrlFromEnv()) fail('--backend postgres needs TENANTRY_PG_URL (or DATABASE_URL)')

  const { benchmark } = await load()
  const { runBenchmark } = await import('./harness/runner.ts')
  let missed = 0
  for (const backend of backends) {
    missed += await runBenchmark(benchmark, backend, {
      overrides: {
        rounds: positiveNumber('rounds', values.rounds),
        seconds: positiveNumber('seconds', values.seconds),
        warmupSeconds: positiveNumber('warmup', values.warmup),
        concurrency: positiveNumber('concurrency', values.concurrency),
      },
      quick: values.quick,
      recordInDoc: !values['no-doc'],
    })
  }
  if (values.check && missed > 0) process.exitCode = 3
}

await main()
