import os from 'node:os'
import { openBackend, type BackendName, type BenchBackend } from './backend.ts'
import type { Benchmark, RunSettings } from './benchmark.ts'
import { verdict } from './figures.ts'
import { appendToDoc, benchmarksDoc, machineLine, textTable, writeResults, type RunRecord } from './record.ts'

export interface RunOptions {
  /** Settings given on the command line; undefined keeps the benchmark's default. */
  readonly overrides: { [K in keyof RunSettings]?: number | undefined }
  /** Two short rounds: checks the harness end to end, measures nothing worth keeping. */
  readonly quick: boolean
  readonly recordInDoc: boolean
}

function settingsFor(benchmark: Benchmark, backend: BackendName, options: RunOptions): RunSettings {
  const defaults = benchmark.defaults(backend)
  const base: RunSettings = options.quick ? { ...defaults, rounds: 2, seconds: 0.3, warmupSeconds: 0.2 } : defaults
  const o = options.overrides
  const concurrency = backend === 'pglite' ? 1 : Math.max(1, Math.round(o.concurrency ?? base.concurrency))
  return {
    rounds: Math.max(1, Math.round(o.rounds ?? base.rounds)),
    seconds: o.seconds ?? base.seconds,
    warmupSeconds: o.warmupSeconds ?? base.warmupSeconds,
    concurrency,
  }
}

/**
 * Runs one benchmark on one backend: a throwaway database, the benchmark, then the
 * table on stdout, bench/results/<name>.json and a section in docs/benchmarks.md.
 * Returns how many goals were missed.
 */
export async function runBenchmark(benchmark: Benchmark, backendName: BackendName, options: RunOptions): Promise<number> {
  const settings = settingsFor(benchmark, backendName, options)
  const log = (message: string): void => console.error(`[${benchmark.name}/${backendName}] ${message}`)
  log(`${machineLine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  log(`settings: ${JSON.stringify(settings)}`)
  const loadAtStart = os.loadavg()[0] ?? 0
  const backend = closeOnce(await openBackend(backendName, settings.concurrency))
  log(`database: ${backend.serverVersion}`)
  const stopOnSignal = closeOnSignal(backend)
  let outcome
  try {
    outcome = await benchmark.run({ backend, settings, quick: options.quick, log })
  } finally {
    stopOnSignal()
    await backend.close()
  }
  const record: RunRecord = {
    name: benchmark.name,
    at: new Date().toISOString(),
    backend: backendName,
    serverVersion: backend.serverVersion,
    settings,
    figures: outcome.figures,
    notes: options.quick ? ['Quick run (--quick): checks the harness, not a measurement.', ...outcome.notes] : outcome.notes,
    details: outcome.details,
    load: [loadAtStart, os.loadavg()[0] ?? 0],
  }
  console.log(`\n${benchmark.name} on ${backendName} (${backend.serverVersion})\n`)
  console.log(textTable(record.figures))
  const missed = record.figures.filter((f) => verdict(f) === 'FAIL')
  console.log(missed.length ? `\nmissed goals: ${missed.map((f) => f.metric).join(', ')}` : '\nall goals met')
  const files = await writeResults(record)
  console.log(`wrote ${files.join(', ')}`)
  if (options.recordInDoc) {
    await appendToDoc(record)
    console.log(`appended to ${benchmarksDoc}`)
  }
  return missed.length
}

/** The same backend, whose close() runs once however often it is called (signal and finally). */
function closeOnce(backend: BenchBackend): BenchBackend {
  let closing: Promise<void> | undefined
  return { ...backend, close: () => (closing ??= backend.close()) }
}

/** On Ctrl-C or SIGTERM, drop the throwaway database and roles before exiting. */
function closeOnSignal(backend: BenchBackend): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: dropping the benchmark database`)
    backend.close().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
