// Runs in a child process of its own (see ./traffic.ts): sends traffic
// streams, each an open-loop stream of evenly spaced requests (a random phase
// per stream, so streams do not arrive in step), over keep-alive connections,
// and records the latency of every 2xx answer and the count of each status.
// Open loop: a slow server does not slow the sender, so queueing shows up as
// latency. autocannon's overallRate sends a second's requests in a burst at each
// second boundary, which would measure its own bursts rather than the server.
// It also reports how late its own event loop ran (`lagP99Ms`, `lagMaxMs`): a
// generator that is itself starved of CPU adds that lateness to the latencies it
// measures. Plain JavaScript: the child runs without the tsx loader. Jobs
// arrive and results leave over the IPC channel; shapes: ./traffic.ts.
import http from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function run(job) {
  const times = []
  const statuses = {}
  let errors = 0
  let timeouts = 0
  const lag = monitorEventLoopDelay({ resolution: 1 })
  lag.enable()
  const started = performance.now()
  const end = started + job.seconds * 1000
  const inflight = new Set()

  function send(agent, request) {
    const t0 = performance.now()
    const done = new Promise((resolve) => {
      const req = http.request({
        host: '127.0.0.1', port: job.port, path: request.path, method: 'GET', agent,
        headers: { host: request.host, authorization: request.authorization }, timeout: 10_000,
      }, (res) => {
        res.resume()
        res.on('end', () => {
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
          if (res.statusCode >= 200 && res.statusCode < 300) times.push(performance.now() - t0)
          resolve()
        })
      })
      req.on('timeout', () => { timeouts++; req.destroy() })
      req.on('error', () => { errors++; resolve() })
      req.end()
    })
    inflight.add(done)
    done.then(() => inflight.delete(done))
  }

  const streams = job.streams.map((stream) => ({
    stream,
    agent: new http.Agent({ keepAlive: true, maxSockets: stream.connections }),
    period: 1000 / stream.rate,
    next: started + Math.random() * (1000 / stream.rate),
    i: 0,
  }))
  while (performance.now() < end) {
    const now = performance.now()
    let wake = end
    for (const s of streams) {
      while (s.next <= now && s.next < end) {
        send(s.agent, s.stream.requests[s.i++ % s.stream.requests.length])
        s.next += s.period
      }
      wake = Math.min(wake, s.next)
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wake - performance.now())))
  }
  await Promise.all(inflight)
  lag.disable()
  for (const s of streams) s.agent.destroy()
  const sorted = Float64Array.from(times).sort()
  return {
    seconds: job.seconds,
    statuses,
    ok: times.length,
    errors,
    timeouts,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    lagP99Ms: lag.percentile(99) / 1e6,
    lagMaxMs: lag.max / 1e6,
  }
}

process.on('message', (message) => {
  if (message?.type !== 'job') return
  run(message.job).then(
    (result) => process.send({ type: 'result', ok: true, result }),
    (error) => process.send({ type: 'result', ok: false, error: String(error?.stack ?? error) }),
  )
})
// The parent gone: nothing left to send to.
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready' })
