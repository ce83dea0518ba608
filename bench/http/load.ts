import { Worker } from 'node:worker_threads'

/** One timed run of one variant. */
export interface LoadJob {
  readonly port: number
  /** Host header: picks the tenant. */
  readonly host: string
  readonly authorization: string | undefined
  /** Cycled through in order by every connection. */
  readonly paths: readonly string[]
  readonly connections: number
  readonly seconds: number
}

/** What the run measured; latencies are of the 2xx answers, from every response (not a ms histogram). */
export interface LoadResult {
  readonly requests: number
  readonly seconds: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/**
 * Drives `job` from a worker thread and resolves with its counts and latency
 * percentiles. Fails when any response was not 2xx, errored or timed out: a
 * variant must not look fast by failing.
 */
export function driveHttp(job: LoadJob, label: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.mjs', import.meta.url), { workerData: job })
    worker.once('message', (message: { ok: true; result: LoadResult } | { ok: false; error: string }) => {
      void worker.terminate()
      if (!message.ok) return reject(new Error(`${label}: load generator failed: ${message.error}`))
      const r = message.result
      if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) {
        return reject(new Error(`${label}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts out of ${r.requests}`))
      }
      resolve(r)
    })
    worker.once('error', reject)
  })
}
