import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

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
  /** How late the generator's own event loop ran (p99, max): lateness it adds to what it measures. */
  readonly lagP99Ms: number
  readonly lagMaxMs: number
}

export interface TrafficGeneratorOptions {
  /** CPUs to pin the generator to (`taskset -c <cpus>`, e.g. `'1'`); none: the scheduler places it. */
  readonly cpus?: string | undefined
  /** CPU priority (`nice -n <nice>`, 19 the lowest); none: the parent's. */
  readonly nice?: number | undefined
}

const workerPath = fileURLToPath(new URL('./traffic-worker.mjs', import.meta.url))

/**
 * A load generator in a child process of its own (its own event loop, heap and
 * GC, and none of the server's CPU accounting), optionally pinned to CPUs with
 * `taskset`. It stays up across jobs, so starting a process never falls inside
 * a timed phase.
 *
 * @example
 * const quiet = await TrafficGenerator.start({ cpus: '1' })
 * const result = await quiet.send({ port, seconds: 5, streams })
 * await quiet.close()
 */
export class TrafficGenerator {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #pending: { resolve(result: TrafficResult): void; reject(error: Error): void } | undefined

  private constructor(child: ChildProcess) {
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.on('message', (message: { type: string; ok?: boolean; result?: TrafficResult; error?: string }) => {
      if (message.type !== 'result') return
      const pending = this.#pending
      this.#pending = undefined
      if (message.ok === true && message.result !== undefined) pending?.resolve(message.result)
      else pending?.reject(new Error(`traffic generator failed: ${message.error}`))
    })
    child.once('exit', (code, signal) => {
      this.#pending?.reject(new Error(`traffic generator exited (${signal ?? code})`))
      this.#pending = undefined
    })
  }

  /** Starts the child and waits until it can take a job. */
  static start(options: TrafficGeneratorOptions = {}): Promise<TrafficGenerator> {
    const argv = [process.execPath, workerPath]
    if (options.cpus !== undefined) argv.unshift('taskset', '-c', options.cpus)
    if (options.nice !== undefined) argv.unshift('nice', '-n', String(options.nice))
    const [command, ...args] = argv as [string, ...string[]]
    // No execArgv: the child is plain JavaScript and needs neither tsx nor the source conditions.
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => reject(new Error(`traffic generator did not start: ${error.message}`))
      child.once('error', failed)
      child.once('exit', (code) => reject(new Error(`traffic generator exited at start (${code})`)))
      child.once('message', (message: { type?: string }) => {
        if (message.type !== 'ready') return reject(new Error('traffic generator sent no ready message'))
        child.removeAllListeners('exit')
        child.removeListener('error', failed)
        resolve(new TrafficGenerator(child))
      })
    })
  }

  /** Pid of the child (to read its CPU from /proc). */
  get pid(): number | undefined {
    return this.#child.pid
  }

  /** Sends `job` and resolves with what came back; one job at a time. */
  send(job: TrafficJob): Promise<TrafficResult> {
    if (this.#pending !== undefined) return Promise.reject(new Error('traffic generator: one job at a time'))
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#child.send({ type: 'job', job })
    })
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.disconnect()
      await this.#exited
    }
  }
}
