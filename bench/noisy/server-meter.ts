import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks'

/** What the server process did during one timed phase. */
export interface ServerLoad {
  /** User + system CPU of the whole process (every thread: the event loop, GC helpers, libuv's pool). */
  readonly cpuMs: number
  /** How late the event loop ran a 10 ms timer (beyond its 10 ms): p99 and max. */
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
  /** Garbage collections: how many, their total and their longest pause. */
  readonly gcCount: number
  readonly gcMs: number
  readonly gcMaxMs: number
}

const RESOLUTION_MS = 10

export interface ServerMeter {
  start(): void
  stop(): ServerLoad
  /** Stops observing (the GC observer and the loop-delay timer). */
  close(): void
}

/**
 * Measures this process (the server, with the load generators in processes of
 * their own) over a phase: its CPU, its event-loop delay and its GC pauses, so
 * a rise of the quiet tenants' latency can be told apart: a busy loop, GC, or
 * CPU taken by other processes (loop delay with little CPU of our own).
 *
 * @example
 * const meter = serverMeter()
 * meter.start(); await drive(); const { cpuMs, loopDelayP99Ms, gcMaxMs } = meter.stop()
 */
export function serverMeter(): ServerMeter {
  let gcCount = 0
  let gcMs = 0
  let gcMaxMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++
      gcMs += entry.duration
      gcMaxMs = Math.max(gcMaxMs, entry.duration)
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  let delay: IntervalHistogram | undefined
  let cpu = process.cpuUsage()
  return {
    start() {
      gcCount = 0
      gcMs = 0
      gcMaxMs = 0
      delay?.disable()
      delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
      delay.enable()
      cpu = process.cpuUsage()
    },
    stop() {
      const used = process.cpuUsage(cpu)
      delay?.disable()
      return {
        cpuMs: (used.user + used.system) / 1000,
        // The histogram holds whole intervals: the timer's own 10 ms is not lateness.
        loopDelayP99Ms: Math.max(0, (delay?.percentile(99) ?? 0) / 1e6 - RESOLUTION_MS),
        loopDelayMaxMs: Math.max(0, (delay?.max ?? 0) / 1e6 - RESOLUTION_MS),
        gcCount,
        gcMs,
        gcMaxMs,
      }
    },
    close() {
      delay?.disable()
      observer.disconnect()
    },
  }
}
