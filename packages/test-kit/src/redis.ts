/**
 * Redis for tests. The stores are tested against three targets through one
 * list (`storeTargets()`): in memory always; the Redis at TENANTRY_REDIS_URL when
 * it is set (then it must be reachable, or the test fails); and a local
 * 3-master Redis Cluster started for the file whenever `redis-server` is on
 * PATH (it must start, or the test fails). Also a throwaway standalone
 * `redis-server` to kill or pause mid-test.
 *
 * @example
 * for (const target of storeTargets()) describe(target.name, () => {
 *   let open: OpenTarget
 *   before(async () => (open = await target.open()))
 *   after(() => open.close())
 * })
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster, Redis } from 'ioredis'
import { freePort } from './ports.ts'

import type { RedisClient } from '@tenantry/redis'
import { redisClusterUnsupported, startRedisCluster } from './redis-cluster.ts'

/** TENANTRY_REDIS_URL, or undefined. */
export function redisUrlFromEnv(): string | undefined {
  return process.env.TENANTRY_REDIS_URL || undefined
}

export interface OpenTarget {
  /** undefined for the in-memory target. */
  readonly client: RedisClient | undefined
  /** How another process reaches the same server: `{ url }` or `{ cluster: ['host:port', …] }` (none in memory). */
  readonly address: { url: string } | { cluster: string[] } | undefined
  /** Another client to the same server(s), as a second instance would have. */
  newClient(): Promise<RedisClient | undefined>
  /** Deletes the keys of the tenants the test used, closes clients, stops servers it started. */
  close(tenantIds?: readonly string[]): Promise<void>
}

export interface StoreTarget {
  readonly name: 'memory' | 'redis' | 'cluster'
  open(): Promise<OpenTarget>
}

/** The targets to run a store suite on (see the module notes). */
export function storeTargets(options: { memory?: boolean } = {}): StoreTarget[] {
  const targets: StoreTarget[] = []
  if (options.memory !== false) {
    targets.push({ name: 'memory', open: async () => ({ client: undefined, address: undefined, newClient: async () => undefined, close: async () => {} }) })
  }
  const url = redisUrlFromEnv()
  if (url) targets.push({ name: 'redis', open: () => openPlain(url) })
  if (!redisClusterUnsupported()) targets.push({ name: 'cluster', open: openCluster })
  return targets
}

async function openPlain(url: string): Promise<OpenTarget> {
  const clients: Redis[] = []
  const newClient = async (): Promise<Redis> => {
    const client = await connectPlain(url)
    clients.push(client)
    return client
  }
  const client = await newClient()
  return {
    client,
    address: { url },
    newClient,
    async close(tenantIds = []) {
      await deleteTenantKeys(client, tenantIds)
      for (const c of clients) c.disconnect()
    },
  }
}

async function openCluster(): Promise<OpenTarget> {
  const cluster = await startRedisCluster()
  try {
    const client = await cluster.connect()
    return {
      client,
      address: { cluster: cluster.nodes.map((n) => `${n.host}:${n.port}`) },
      newClient: () => cluster.connect(),
      close: () => cluster.stop(),
    }
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

/** A plain connection to `url`; throws a clear error when it cannot be reached (never a skip). */
export async function connectPlain(url: string): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  try {
    await client.connect()
    await client.ping()
  } catch (error) {
    client.disconnect()
    throw new Error(`TENANTRY_REDIS_URL is set (${url}) but Redis is unreachable: ${(error as Error).message}`, { cause: error })
  }
  return client
}

/** Deletes every key under `tenantry:{<id>}:` of the given tenants (every master of a cluster). */
export async function deleteTenantKeys(client: RedisClient, tenantIds: readonly string[], prefix = 'tenantry'): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  for (const id of tenantIds) {
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:{${id}}:*`, 'COUNT', 1000)
        cursor = next
        // One key per DEL: on a cluster node, keys of one tenant share a slot anyway.
        for (const key of keys) await node.del(key)
      } while (cursor !== '0')
    }
  }
}

/** A fresh tenant id for a test (UUIDs encode to themselves). */
export function testTenantId(): string {
  return randomUUID()
}

/** True when `name` runs from PATH. */
export function commandOnPath(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}


/** A port P with P and P + 10000 free (a cluster node's client and bus ports), not in `taken`. */
export async function freePortPair(taken: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 25000)
    if (taken.includes(port) || taken.includes(port - 10000) || taken.includes(port + 10000)) continue
    if ((await portFree(port)) && (await portFree(port + 10000))) return port
  }
  throw new Error('no free port pair found for a Redis Cluster node')
}

/** True when a Redis on `port` answers PING. */
export function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let answer = ''
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => {
      answer += d.toString()
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
  })
}

/** Polls `check` every 50 ms until it is true; throws `message` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(message)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. */
export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

export interface ThrowawayRedis {
  readonly port: number
  readonly url: string
  /** Kills the server at once (SIGKILL): Redis is down. */
  kill(): Promise<void>
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void
  resume(): void
  /** Starts a fresh server on the same port after kill() (does nothing while one runs). */
  restart(): Promise<void>
  /** True between a start and a kill. */
  readonly running: boolean
  /** Stops the server and removes its folder. Safe to call twice. */
  stop(): Promise<void>
}

/** A standalone redis-server on a free loopback port, no persistence, in a temp folder. */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  if (!commandOnPath('redis-server')) throw new Error('a throwaway Redis needs redis-server on PATH')
  const dir = mkdtempSync(join(tmpdir(), 'tenantry-redis-'))
  const port = await freePort()
  let child: ChildProcess | undefined
  const output: string[] = []
  const alive = (c: ChildProcess | undefined): boolean => c !== undefined && c.exitCode === null && c.signalCode === null
  const start = async (): Promise<void> => {
    if (alive(child)) return
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
    const mine = child
    const exited = new Promise<never>((_, reject) => mine.once('exit', () => reject(new Error(`throwaway redis-server on ${port} exited:\n${output.join('')}`))))
    exited.catch(() => undefined)
    await Promise.race([waitFor(() => redisPing(port), 10_000, `throwaway redis-server on ${port} did not start:\n${output.join('')}`), exited])
  }
  const killNow = (): void => {
    child?.kill('SIGKILL')
  }
  process.once('exit', killNow)
  await start()
  let stopped = false
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (!child) return
      const c = child
      const exited = new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))
      c.kill('SIGCONT')
      c.kill('SIGKILL')
      await exited
    },
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
    restart: start,
    get running() {
      return alive(child)
    },
    async stop() {
      if (stopped) return
      stopped = true
      process.off('exit', killNow)
      if (child) {
        child.kill('SIGCONT')
        await stopProcess(child)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
