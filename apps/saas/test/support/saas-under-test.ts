/**
 * One reference SaaS per backend per test file: the real app (createSaas) on a
 * real socket (127.0.0.1, port 0), on embedded PGlite in a temporary data folder
 * or on a fresh PostgreSQL database from the shared fixture, with every log line
 * captured. `close()` removes everything it made: tenant databases, the runtime
 * role, the database or the folder.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { TenantAdmission } from '@tenantry/core'
import { createLogger, createSaas, type Saas } from '@tenantry/saas'
import { Redis } from 'ioredis'
import { call, dropRoles, uniqueName, type HttpAnswer, type TestBackend, type TestDatabase } from '@tenantry/test-kit'

/** An answer of the SaaS (the test kit's HTTP answer). */
export type Answer = HttpAnswer

export interface CallOptions {
  readonly method?: string
  /** Host header: a tenant slug (`acme` -> acme.localhost:port), `bare` (localhost:port) or a full host. Default `bare`. */
  readonly host?: string
  /** Bearer token for Authorization. */
  readonly key?: string
  readonly headers?: Record<string, string>
  /** An object is sent as JSON; a string is sent as is (with content-type application/json unless headers say otherwise). */
  readonly body?: unknown
}

export interface SaasUnderTest {
  readonly backend: TestBackend['name']
  readonly saas: Saas
  readonly port: number
  readonly adminToken: string
  /** The embedded data folder (PGlite only). */
  readonly dataDir: string | undefined
  /** The PostgreSQL database and runtime role (PostgreSQL only). */
  readonly databaseUrl: string | undefined
  readonly runtimeRole: string | undefined
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[]
  call(path: string, options?: CallOptions): Promise<Answer>
  /** A call to the admin API with the admin token on the bare host. */
  admin(path: string, options?: Omit<CallOptions, 'host' | 'key'>): Promise<Answer>
  /** A new API key of a tenant. */
  keyFor(slug: string): Promise<string>
  close(): Promise<void>
}

function send(port: number, path: string, options: CallOptions): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) }
  const hostOption = options.host ?? 'bare'
  const host = headers.host ?? (hostOption === 'bare' ? `localhost:${port}` : hostOption.includes('.') || hostOption.includes(':') ? hostOption : `${hostOption}.localhost:${port}`)
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`
  return call(port, { method: options.method ?? 'GET', path, host, headers, body: options.body })
}

export interface StartOptions {
  readonly admission?: TenantAdmission | 'default'
  /** REDIS_URL of the instance (cache invalidation between instances). */
  readonly redisUrl?: string
  /** A second instance on the same PostgreSQL database as this one (which keeps ownership of it). */
  readonly shareWith?: SaasUnderTest
}

/** The key prefix of an instance's report queue (with Redis): its own per test run, shared with the instance it shares a database with. */
const queuePrefixes = new WeakMap<Saas, string>()

/**
 * Starts the SaaS on `backend` with the demo tenants (acme shared, globex schema,
 * initech database).
 *
 * @example
 * const s = await startSaasUnderTest(backend)
 * const key = await s.keyFor('acme')
 * const r = await s.call('/api/projects', { host: 'acme', key })
 */
export async function startSaasUnderTest(backend: TestBackend, options: StartOptions = {}): Promise<SaasUnderTest> {
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const adminToken = `tadm_test_${randomBytes(16).toString('hex')}`
  let dataDir: string | undefined
  let database: TestDatabase | undefined
  let runtimeRole: string | undefined
  const shared = options.shareWith
  if (shared !== undefined && shared.databaseUrl === undefined) throw new Error('only a PostgreSQL instance can be shared (PGlite is one process)')
  if (backend.name === 'pglite') {
    dataDir = await mkdtemp(join(tmpdir(), 'tenantry-saas-'))
  } else if (shared === undefined) {
    database = await backend.createDatabase()
    runtimeRole = uniqueName('tenantry_saas_app')
  }
  const queuePrefix = options.redisUrl === undefined ? undefined : (shared === undefined ? undefined : queuePrefixes.get(shared.saas)) ?? uniqueName('tenantry_saas_q')
  const cleanup = async (saas: Saas | undefined): Promise<void> => {
    if (saas !== undefined) {
      if (backend.name === 'postgres' && shared === undefined) {
        // Tenant databases live beside the test database on the server: drop them.
        const { items } = await saas.tenantry.catalog.list({ limit: 500 })
        for (const tenant of items) if (tenant.isolation === 'database') await saas.tenantry.tenants.offboard(tenant.id).catch(() => undefined)
      }
      await saas.close()
    }
    if (database !== undefined) {
      if (runtimeRole !== undefined) await dropRoles(database, [runtimeRole])
      await database.close()
    }
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
    if (options.redisUrl !== undefined && queuePrefix !== undefined && shared === undefined) await dropKeys(options.redisUrl, `${queuePrefix}:*`).catch(() => undefined)
  }
  let saas: Saas | undefined
  try {
    saas = await createSaas({
      config: {
        databaseUrl: shared?.databaseUrl ?? database?.url,
        dataDir: dataDir ?? join(tmpdir(), 'unused'),
        baseDomain: 'localhost',
        logLevel: 'info',
        redisUrl: options.redisUrl,
      },
      adminToken: shared?.adminToken ?? adminToken,
      logger: createLogger({ level: 'info' }, sink),
      seedDemo: shared === undefined,
      ...((shared?.runtimeRole ?? runtimeRole) === undefined ? {} : { runtimeRole: shared?.runtimeRole ?? runtimeRole }),
      ...(options.admission === undefined ? {} : { admission: options.admission }),
      ...(queuePrefix === undefined ? {} : { jobs: { prefix: queuePrefix } }),
    })
    if (queuePrefix !== undefined) queuePrefixes.set(saas, queuePrefix)
    await saas.app.listen({ host: '127.0.0.1', port: 0 })
  } catch (error) {
    await cleanup(saas).catch(() => undefined)
    throw error
  }
  const started = saas
  const port = (started.app.server.address() as AddressInfo).port
  const call = (path: string, callOptions: CallOptions = {}): Promise<Answer> => send(port, path, callOptions)
  const token = shared?.adminToken ?? adminToken
  const admin = (path: string, callOptions: Omit<CallOptions, 'host' | 'key'> = {}): Promise<Answer> =>
    send(port, `/admin/api${path}`, { ...callOptions, key: token })
  return {
    backend: backend.name,
    saas: started,
    port,
    adminToken: token,
    dataDir,
    databaseUrl: shared?.databaseUrl ?? database?.url,
    runtimeRole: shared?.runtimeRole ?? runtimeRole,
    logs,
    call,
    admin,
    async keyFor(slug) {
      const answer = await admin(`/tenants/${slug}/api-keys`, { method: 'POST', body: { name: 'test' } })
      if (answer.status !== 201) throw new Error(`could not make a key for ${slug}: ${answer.status} ${answer.text}`)
      return answer.body.key as string
    },
    close: () => cleanup(started),
  }
}

/** Deletes the keys matching `pattern` (a test's own queue). */
async function dropKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}
