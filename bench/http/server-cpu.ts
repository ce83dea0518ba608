import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { performance, type EventLoopUtilization } from 'node:perf_hooks'
import type pg from 'pg'

/** CPU the server side spent during one timed run. */
export interface ServerCpu {
  /** Busy time of this process's main thread (the Fastify server; with PGlite, the database engine too). */
  readonly nodeMs: number
  /** CPU of the PostgreSQL backends serving the benchmark's databases; undefined when not measurable. */
  readonly postgresMs: number | undefined
}

export interface CpuMeter {
  start(): Promise<void>
  stop(): Promise<ServerCpu>
}

let ticksPerSecond: number | undefined
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** utime + stime of a process in ms, from /proc (Linux, same machine); undefined when unreadable. */
async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks()
  } catch {
    return undefined
  }
}

/**
 * Measures where a run's server CPU goes: this process's main thread (event-loop
 * utilization) and, for a local PostgreSQL server, its backends connected to
 * `databases` (from pg_stat_activity and /proc). Backends opened during a run count
 * in full; the load generator's worker thread is not counted anywhere.
 *
 * @example
 * const meter = cpuMeter(adminPool, ['tenantry_bench_x'])
 * await meter.start(); await drive(); const { nodeMs, postgresMs } = await meter.stop()
 */
export function cpuMeter(pool: pg.Pool | undefined, databases: readonly string[]): CpuMeter {
  let elu: EventLoopUtilization | undefined
  let before = new Map<number, number>()
  const backends = async (): Promise<number[]> => {
    if (pool === undefined) return []
    const { rows } = await pool.query<{ pid: number }>('select pid from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()', [databases])
    return rows.map((r) => r.pid)
  }
  return {
    async start() {
      before = new Map()
      for (const pid of await backends()) {
        const ms = await processCpuMs(pid)
        if (ms !== undefined) before.set(pid, ms)
      }
      elu = performance.eventLoopUtilization()
    },
    async stop() {
      const used = performance.eventLoopUtilization(elu)
      if (pool === undefined) return { nodeMs: used.active, postgresMs: undefined }
      let total = 0
      let readable = 0
      for (const pid of await backends()) {
        const ms = await processCpuMs(pid)
        if (ms === undefined) continue
        readable++
        total += ms - (before.get(pid) ?? 0)
      }
      return { nodeMs: used.active, postgresMs: readable > 0 ? total : undefined }
    },
  }
}
