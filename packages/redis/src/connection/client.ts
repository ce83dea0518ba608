import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis'
import { TenantryError, silentLogger, validationError, type FairShareLogger } from '@tenantry/core'

/** A plain Redis connection or a Redis Cluster client; every Tenantry store takes either. */
export type RedisClient = Redis | Cluster

interface CommonOptions {
  /** A command waiting longer than this fails (ioredis `commandTimeout`). */
  readonly commandTimeoutMs?: number
  /** How long the first connection may take before `connectRedis` fails. */
  readonly connectTimeoutMs?: number
  /** Connection errors go here, at most one line per `logIntervalMs`. */
  readonly logger?: FairShareLogger
  readonly logIntervalMs?: number
  /** Anything else for ioredis (ours win where they overlap). */
  readonly redisOptions?: RedisOptions
}

export interface RedisUrlOptions extends CommonOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` */
  readonly url: string
}

export interface RedisClusterOptions extends CommonOptions {
  /** Some of the cluster's nodes (`'127.0.0.1:7000'` or `{ host, port }`); the rest are discovered. */
  readonly cluster: readonly (string | { host: string; port: number })[]
}

/**
 * Opens an ioredis connection (plain or Cluster) with settings that suit rate
 * limits and caches: a command timeout, one retry per command, no offline queue
 * on a plain connection (while Redis is down commands fail at once, so the
 * stores take their fallback at once instead of piling up), reconnection with
 * backoff, and connection errors logged at a bounded rate instead of crashing
 * the process. Resolves once the connection is ready (fail at start).
 *
 * @example
 * const redis = await connectRedis({ url: process.env.REDIS_URL! })
 * const cluster = await connectRedis({ cluster: ['127.0.0.1:7000', '127.0.0.1:7001'] })
 */
export async function connectRedis(options: RedisUrlOptions | RedisClusterOptions): Promise<RedisClient> {
  if (typeof options !== 'object' || options === null) throw validationError([{ path: 'options', message: 'must be { url } or { cluster }' }])
  const { commandTimeoutMs = 1000, connectTimeoutMs = 5000, logger = silentLogger, logIntervalMs = 30_000, redisOptions = {} } = options
  const common: RedisOptions = {
    ...redisOptions,
    lazyConnect: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 1,
  }
  let client: RedisClient
  let where: string
  if ('cluster' in options) {
    if (!Array.isArray(options.cluster) || options.cluster.length === 0) throw validationError([{ path: 'options.cluster', message: 'must list at least one node' }])
    const nodes: ClusterNode[] = options.cluster.map((n) => (typeof n === 'string' ? parseNode(n) : n))
    where = `cluster ${nodes.map((n) => (typeof n === 'object' ? `${n.host}:${n.port}` : String(n))).join(',')}`
    client = new Cluster(nodes, {
      lazyConnect: true,
      redisOptions: common,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    })
  } else {
    if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url)) throw validationError([{ path: 'options.url', message: 'must be a redis:// or rediss:// URL' }])
    where = redactUrl(options.url)
    client = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    })
  }
  let lastLog = 0
  client.on('error', (error: Error) => {
    const now = Date.now()
    if (now - lastLog < logIntervalMs) return
    lastLog = now
    logger.warn({ redis: where, error: error.message }, 'Redis connection error (repeats are not logged for a while)')
  })
  try {
    await withTimeout(client.connect(), connectTimeoutMs + 1000)
  } catch (error) {
    client.disconnect()
    throw new TenantryError('INTERNAL', `Cannot connect to Redis at ${where}: ${(error as Error).message}`, { cause: error })
  }
  return client
}

function parseNode(node: string): { host: string; port: number } {
  const at = node.lastIndexOf(':')
  const port = Number(node.slice(at + 1))
  if (at < 1 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw validationError([{ path: 'options.cluster', message: `"${node}" is not host:port` }])
  }
  return { host: node.slice(0, at), port }
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'redis (unparsable URL)'
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${ms} ms`)), ms)
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    )
  })
}
