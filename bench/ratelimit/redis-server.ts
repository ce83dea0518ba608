import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { freePort } from '@tenantry/test-kit'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'

/** The Redis a benchmark runs against: the one at a URL, or a throwaway server it started. */
export interface BenchRedis {
  readonly url: string
  /** 'redis 7.0.15 at redis://…' or 'redis 7.0.15, throwaway server started by the benchmark' */
  readonly description: string
  close(): Promise<void>
}

/** The Redis URL from TENANTRY_REDIS_URL or REDIS_URL. */
export function redisUrlFromEnv(): string | undefined {
  return process.env.TENANTRY_REDIS_URL || process.env.REDIS_URL || undefined
}

async function versionAt(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  try {
    await client.connect()
    const info = await client.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } catch (error) {
    throw new Error(`cannot reach Redis at ${url}: ${(error as Error).message}`)
  } finally {
    client.disconnect()
  }
}


/** Uses the Redis at TENANTRY_REDIS_URL / REDIS_URL, or starts a throwaway redis-server (stopped by close()). */
export async function openBenchRedis(): Promise<BenchRedis> {
  const envUrl = redisUrlFromEnv()
  if (envUrl) {
    const version = await versionAt(envUrl)
    return { url: envUrl, description: `Redis ${version} at ${envUrl.replace(/\/\/[^@]*@/, '//***@')}`, close: async () => {} }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tenantry-bench-redis-'))
  const port = await freePort()
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start redis-server (set TENANTRY_REDIS_URL or put redis-server on PATH): ${e.message}`)))
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
  })
  failed.catch(() => undefined)
  const url = `redis://127.0.0.1:${port}`
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    let version: string | undefined
    for (let i = 0; i < 100 && version === undefined; i++) {
      version = await Promise.race([versionAt(url).catch(() => undefined), failed])
      if (version === undefined) await new Promise((r) => setTimeout(r, 50))
    }
    if (version === undefined) throw new Error('redis-server did not answer')
    return { url, description: `Redis ${version}, a throwaway server the benchmark started (no URL set)`, close }
  } catch (error) {
    await close()
    throw error
  }
}
