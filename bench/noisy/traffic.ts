import { Worker } from 'node:worker_threads'

/** One steady stream of requests (one tenant's traffic) at a fixed overall rate. */
export interface TrafficStream {
  readonly rate: number
  readonly connections: number
  /** Cycled through by every connection; each names its tenant by Host and key. */
  readonly requests: readonly { readonly host: string; readonly authorization: string; readonly path: string }[]
}

/** Streams sent together for `seconds`; latencies and statuses are pooled. */
export interface TrafficJob {
  readonly port: number
  readonly seconds: number
  readonly streams: readonly TrafficStream[]
}

export interface TrafficResult {
  readonly seconds: number
  /** Answers per HTTP status. */
  readonly statuses: Readonly<Record<string, number>>
  /** 2xx answers; latencies are theirs. */
  readonly ok: number
  readonly errors: number
  readonly timeouts: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/** Sends `job` from a worker thread (its own event loop) and resolves with what came back. */
export function sendTraffic(job: TrafficJob): Promise<TrafficResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./traffic-worker.mjs', import.meta.url), { workerData: job })
    worker.once('message', (message: { ok: true; result: TrafficResult } | { ok: false; error: string }) => {
      void worker.terminate()
      if (message.ok) resolve(message.result)
      else reject(new Error(`traffic generator failed: ${message.error}`))
    })
    worker.once('error', reject)
  })
}
