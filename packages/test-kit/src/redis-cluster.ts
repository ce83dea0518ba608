/**
 * A throwaway local Redis Cluster for tests: three masters (no replicas) on
 * free loopback ports, each a `redis-server` child process with a config in a
 * fresh temp folder, joined with `redis-cli --cluster create`. `stop()` kills
 * them and removes the folder. Needs `redis-server` and `redis-cli` on PATH;
 * starting takes one to three seconds.
 *
 * @example
 * const cluster = await startRedisCluster()
 * after(() => cluster.stop())
 * const client = await cluster.connect()
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster } from 'ioredis'
import { commandOnPath, freePortPair, redisPing, stopProcess, waitFor } from './redis.ts'

const run = promisify(execFile)

export interface RedisClusterFixture {
  readonly nodes: readonly { host: string; port: number }[]
  /** A new ioredis Cluster client, ready (the test closes it, or `stop()` does). */
  connect(): Promise<Cluster>
  /** Kills the servers, closes the clients made by `connect()`, removes the folder. Safe to call twice. */
  stop(): Promise<void>
}

/** Why a cluster cannot start here, or undefined when it can. */
export function redisClusterUnsupported(): string | undefined {
  if (!commandOnPath('redis-server')) return 'redis-server is not on PATH'
  if (!commandOnPath('redis-cli')) return 'redis-cli is not on PATH'
  return undefined
}

/** Starts a local cluster of `masters` (at least 3) nodes; throws with the servers' output when it cannot. */
export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisClusterFixture> {
  const masters = options.masters ?? 3
  const why = redisClusterUnsupported()
  if (why) throw new Error(`cannot start a Redis Cluster: ${why}`)
  const dir = mkdtempSync(join(tmpdir(), 'tenantry-redis-cluster-'))
  const children: ChildProcess[] = []
  const clients: Cluster[] = []
  const output: string[] = []
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    process.off('exit', killNow)
    for (const client of clients) client.disconnect()
    await Promise.all(children.map((child) => stopProcess(child)))
    rmSync(dir, { recursive: true, force: true })
  }
  // If the test process dies without stop(), do not leave servers behind.
  const killNow = (): void => {
    for (const child of children) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', killNow)
  try {
    const ports: number[] = []
    for (let i = 0; i < masters; i++) ports.push(await freePortPair(ports))
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
          '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no',
          '--cluster-node-timeout', '2000', '--loglevel', 'warning',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      child.stdout?.on('data', (d: Buffer) => output.push(`[${port}] ${d.toString()}`))
      child.stderr?.on('data', (d: Buffer) => output.push(`[${port}] ${d.toString()}`))
      children.push(child)
    }
    for (const port of ports) await waitFor(() => redisPing(port), 10_000, `redis-server on port ${port} did not answer PING`)
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    await waitFor(async () => {
      for (const port of ports) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info'], { timeout: 5000 })
        if (!stdout.includes('cluster_state:ok')) return false
      }
      return true
    }, 20_000, 'the cluster did not reach cluster_state:ok')
    const nodes = ports.map((port) => ({ host: '127.0.0.1', port }))
    return {
      nodes,
      async connect() {
        const client = new Cluster(nodes, { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } })
        clients.push(client)
        await client.connect()
        return client
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw new Error(`cannot start a Redis Cluster: ${(error as Error).message}\n${output.join('')}`, { cause: error })
  }
}
