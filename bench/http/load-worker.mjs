// Runs in a worker thread: drives one variant with autocannon on its own event
// loop (so the load generator does not share the server's), and records every
// response time itself: autocannon's histogram keeps whole milliseconds, too
// coarse for a p99 of a few milliseconds. Plain JavaScript: worker threads do not
// get the tsx loader of the main thread. Job and result shapes: ./load.ts.
import { parentPort, workerData } from 'node:worker_threads'
import autocannon from 'autocannon'

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function run(job) {
  let times = new Float64Array(1 << 16)
  let n = 0
  let answered = 0
  const headers = { host: job.host }
  if (job.authorization !== undefined) headers.authorization = job.authorization
  // Without a callback the instance is both a progress emitter and a promise of the result.
  const instance = autocannon({
    url: `http://127.0.0.1:${job.port}`,
    connections: job.connections,
    duration: job.seconds,
    headers,
    requests: job.paths.map((path) => ({ method: 'GET', path })),
  })
  instance.on('response', (_client, status, _bytes, ms) => {
    answered++
    if (status < 200 || status >= 300) return
    if (n === times.length) {
      const bigger = new Float64Array(times.length * 2)
      bigger.set(times)
      times = bigger
    }
    times[n++] = ms
  })
  const result = await instance
  const sorted = times.subarray(0, n).sort()
  return {
    // Counted here: result.requests.total is not filled in when `requests` is given.
    requests: answered,
    seconds: result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  }
}

run(workerData).then(
  (result) => parentPort.postMessage({ ok: true, result }),
  (error) => parentPort.postMessage({ ok: false, error: String(error) }),
)
