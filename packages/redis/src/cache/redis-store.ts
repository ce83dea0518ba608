import { validationError, type CacheRead, type CacheStore } from '@tenantry/core'
import type { RedisClient } from '../connection/client.ts'
import { checkKeyPrefix, DEFAULT_KEY_PREFIX, tenantKey } from '../connection/keys.ts'
import { deleteScript, flushScript, readScript, writeScript } from './scripts.ts'

export interface RedisCacheStoreOptions {
  /** A plain Redis connection or a Cluster client (`connectRedis` makes either). */
  readonly redis: RedisClient
  /** First part of every key (default `tenantry`). */
  readonly keyPrefix?: string
}

/**
 * Tenant-cache entries in Redis, shared by every instance. Keys are
 * `tenantry:{<tenant id>}:c:<generation>:<key>` (one Cluster slot per tenant);
 * every call is one EVALSHA that reads the tenant's generation and the entry
 * together, so a flush (a new generation, O(1)) is seen at once everywhere. The
 * flushed generation's entries are never read again and expire by their TTL.
 *
 * @example
 * const cache = new TenantCache({ store: new RedisCacheStore({ redis: await connectRedis({ url }) }) })
 */
export class RedisCacheStore implements CacheStore {
  readonly redis: RedisClient
  readonly #prefix: string

  constructor(options: RedisCacheStoreOptions) {
    if (typeof options !== 'object' || options === null || typeof options.redis?.evalsha !== 'function') {
      throw validationError([{ path: 'options.redis', message: 'must be an ioredis Redis or Cluster client' }])
    }
    this.redis = options.redis
    this.#prefix = checkKeyPrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
  }

  /** The Redis key of an entry in a generation (for tools and tests). */
  entryKey(tenantId: string, generation: string, key: string): string {
    return `${this.#root(tenantId)}${generation}:${key}`
  }

  /** The Redis key holding the tenant's generation. */
  generationKey(tenantId: string): string {
    return `${this.#root(tenantId)}gen`
  }

  async read(tenantId: string, key: string): Promise<CacheRead> {
    const reply = (await readScript.run(this.redis, [this.generationKey(tenantId)], [this.#root(tenantId), key])) as [string, string | null]
    return { generation: reply[0], value: reply[1] ?? undefined }
  }

  async write(tenantId: string, key: string, value: string, ttlMs: number, generation?: string): Promise<boolean> {
    const reply = await writeScript.run(this.redis, [this.generationKey(tenantId)], [this.#root(tenantId), key, value, ttlMs, generation ?? ''])
    return reply === 1
  }

  async delete(tenantId: string, key: string): Promise<void> {
    await deleteScript.run(this.redis, [this.generationKey(tenantId)], [this.#root(tenantId), key])
  }

  async flush(tenantId: string): Promise<string> {
    return (await flushScript.run(this.redis, [this.generationKey(tenantId)], [])) as string
  }

  // `<prefix>:{<tenant>}:c:`: the encoded tenant id cannot contain `}` or `:`,
  // so nothing after it can be read as another tenant's key.
  #root(tenantId: string): string {
    return `${tenantKey(tenantId, 'c', this.#prefix)}:`
  }
}
