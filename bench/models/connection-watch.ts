import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import type { PhysicalConnection, TenantDatabases } from '@tenantry/postgres'
import pg from 'pg'

/** A TenantDatabases that counts its physical connections, independently of the router's own budget. */
export interface CountedDatabases {
  readonly databases: TenantDatabases
  /** Connections opening or open now (from the start of a connect to the end of its close). */
  open(): number
  /** The most at once. */
  peak(): number
}

/**
 * Wraps `inner` to count connections from the moment a connect starts until
 * its close has finished (the span a budget permit must cover). For PGlite,
 * where there is no server to ask, this is the number of instances in memory.
 */
export function countedDatabases(inner: TenantDatabases): CountedDatabases {
  let open = 0
  let peak = 0
  const opened = (): void => {
    open += 1
    if (open > peak) peak = open
  }
  const databases: TenantDatabases = {
    backend: inner.backend,
    ...(inner.maxConnectionsPerDatabase === undefined ? {} : { maxConnectionsPerDatabase: inner.maxConnectionsPerDatabase }),
    async connect(key): Promise<PhysicalConnection> {
      opened()
      let physical: PhysicalConnection
      try {
        physical = await inner.connect(key)
      } catch (error) {
        open -= 1
        throw error
      }
      let closing: Promise<void> | undefined
      return {
        client: physical.client,
        close: () => (closing ??= physical.close().finally(() => {
          open -= 1
        })),
      }
    },
  }
  return { databases, open: () => open, peak: () => peak }
}

/** What a sampler saw. */
export interface SampledPeak {
  readonly peak: number
  readonly samples: number
  /** Median gap between the starts of two samples, in ms. */
  readonly intervalMs: number
}

/**
 * Counts, every `intervalMs`, the server backends connected to databases whose
 * name starts with `prefix` (pg_stat_activity), from its own admin connection.
 * The truth the router's budget must hold to: a leaked or uncounted connection
 * shows up here even when the router's bookkeeping misses it.
 */
export class ServerConnectionSampler {
  readonly #adminUrl: string
  readonly #prefix: string
  readonly #intervalMs: number
  #client: pg.Client | undefined
  #loop: Promise<void> | undefined
  #stopped = false
  #peak = 0
  #samples = 0
  readonly #gaps: number[] = []

  constructor(adminUrl: string, prefix: string, intervalMs = 50) {
    this.#adminUrl = adminUrl
    this.#prefix = prefix
    this.#intervalMs = intervalMs
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#adminUrl, application_name: 'tenantry-bench-models-sampler' })
    await client.connect()
    this.#client = client
    await this.#sample()
    this.#loop = this.#run()
    // Handled here so a failed sample waits for stop() instead of crashing the process.
    this.#loop.catch(() => undefined)
  }

  async #sample(): Promise<void> {
    const result = await (this.#client as pg.Client).query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where starts_with(datname, $1)',
      [this.#prefix],
    )
    const n = result.rows[0]?.n ?? 0
    this.#samples += 1
    if (n > this.#peak) this.#peak = n
  }

  async #run(): Promise<void> {
    let last = performance.now()
    while (!this.#stopped) {
      const wait = this.#intervalMs - (performance.now() - last)
      if (wait > 0) await sleep(wait)
      if (this.#stopped) break
      const now = performance.now()
      this.#gaps.push(now - last)
      last = now
      await this.#sample()
    }
  }

  /** The peak so far (the loop keeps running). */
  get peak(): number {
    return this.#peak
  }

  /** Stops sampling; throws if a sample failed (then the peak would not cover the run). */
  async stop(): Promise<SampledPeak> {
    this.#stopped = true
    try {
      await this.#loop
    } finally {
      await this.#client?.end().catch(() => undefined)
    }
    const gaps = [...this.#gaps].sort((a, b) => a - b)
    return { peak: this.#peak, samples: this.#samples, intervalMs: gaps[Math.floor(gaps.length / 2)] ?? Number.NaN }
  }
}
