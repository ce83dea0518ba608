import { performance } from 'node:perf_hooks'
import type { RunSettings } from './benchmark.ts'

/** One way of doing the same operation, compared against the others in the same rounds. */
export interface Variant {
  readonly name: string
  /** One operation (one query); `client` is the index of the concurrent client running it. */
  op(client: number): Promise<void>
  /** A monotonic count of round trips this variant sent; read before and after each round. */
  roundTrips(): number
}

/** What one variant did in one round. */
export interface RoundSample {
  readonly ops: number
  readonly seconds: number
  readonly opsPerSecond: number
  readonly p50Us: number
  readonly p99Us: number
  readonly roundTripsPerOp: number
  /** CPU time of this Node process (user + system) per operation: the client-side cost. */
  readonly cpuUsPerOp: number
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)))
  return sorted[rank - 1] as number
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const n = sorted.length
  if (n === 0) return Number.NaN
  const mid = Math.floor(n / 2)
  return n % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Runs `variant` with `concurrency` clients, each issuing operations back to back
 * until `seconds` have passed, and times every operation.
 */
export async function drive(variant: Variant, concurrency: number, seconds: number): Promise<RoundSample> {
  const latencies: number[][] = Array.from({ length: concurrency }, () => [])
  const roundTripsBefore = variant.roundTrips()
  const cpuBefore = process.cpuUsage()
  const start = performance.now()
  const deadline = start + seconds * 1000
  async function client(index: number): Promise<void> {
    const mine = latencies[index] as number[]
    while (performance.now() < deadline) {
      const t0 = performance.now()
      await variant.op(index)
      mine.push((performance.now() - t0) * 1000)
    }
  }
  await Promise.all(latencies.map((_, index) => client(index)))
  const elapsed = (performance.now() - start) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const all = latencies.flat().sort((a, b) => a - b)
  const ops = all.length
  return {
    ops,
    seconds: elapsed,
    opsPerSecond: ops / elapsed,
    p50Us: percentile(all, 0.5),
    p99Us: percentile(all, 0.99),
    roundTripsPerOp: ops ? (variant.roundTrips() - roundTripsBefore) / ops : Number.NaN,
    cpuUsPerOp: ops ? (cpu.user + cpu.system) / ops : Number.NaN,
  }
}

/**
 * Warms every variant up, then runs `settings.rounds` rounds in which each variant
 * runs once for `settings.seconds`. The order rotates every round, so slow drift of
 * a shared machine (and whatever one variant leaves behind for the next, such as
 * garbage) spreads over all variants instead of landing on one.
 */
export async function measureInRounds(
  variants: readonly Variant[],
  settings: RunSettings,
  log: (message: string) => void,
  label: string,
): Promise<Map<string, RoundSample[]>> {
  const samples = new Map<string, RoundSample[]>(variants.map((v) => [v.name, []]))
  if (settings.warmupSeconds > 0) {
    for (const variant of variants) await drive(variant, settings.concurrency, settings.warmupSeconds)
    log(`${label}: warmed up`)
  }
  for (let round = 0; round < settings.rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant)
    const line: string[] = []
    for (const variant of order) {
      const sample = await drive(variant, settings.concurrency, settings.seconds)
      samples.get(variant.name)?.push(sample)
      line.push(`${variant.name} ${Math.round(sample.opsPerSecond)}`)
    }
    log(`${label}: round ${round + 1}/${settings.rounds} ops/s: ${line.join(', ')}`)
  }
  return samples
}

/** The median of each per-round statistic. */
export function summarize(samples: readonly RoundSample[]): Omit<RoundSample, 'seconds'> {
  return {
    ops: median(samples.map((s) => s.ops)),
    opsPerSecond: median(samples.map((s) => s.opsPerSecond)),
    p50Us: median(samples.map((s) => s.p50Us)),
    p99Us: median(samples.map((s) => s.p99Us)),
    roundTripsPerOp: median(samples.map((s) => s.roundTripsPerOp)),
    cpuUsPerOp: median(samples.map((s) => s.cpuUsPerOp)),
  }
}
