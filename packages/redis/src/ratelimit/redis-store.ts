import { encodeKeyPart, slotLength, validationError, type RateLimitDecision, type RateLimitStore, type RateLimitTarget, type SlidingWindow } from '@tenantry/core'
import type { RedisClient } from '../connection/client.ts'
import { checkKeyPrefix, DEFAULT_KEY_PREFIX, tenantKey } from '../connection/keys.ts'
import { LuaScript } from '../connection/lua-script.ts'
import { SLIDING_WINDOW_LUA } from './sliding-window.lua.ts'

export interface RedisRateLimitStoreOptions {
  /** A plain Redis connection or a Cluster client (`connectRedis` makes either). */
  readonly redis: RedisClient
  /** First part of every key (default `tenantry`). */
  readonly keyPrefix?: string
}

/** Shared by every store: the SHA and the reload count belong to the script. */
const script = new LuaScript('tenantry-sliding-window', SLIDING_WINDOW_LUA)

/**
 * Rate-limit counters in Redis, shared by every instance: one EVALSHA per check
 * (the sliding-window script, loaded once), decided on Redis's clock. A counter
 * is a small hash at `tenantry:{<tenant id>}:rl:<bucket>:<windowMs>:<slots>`,
 * expiring with its window; the hash tag keeps a tenant's keys in one Cluster slot.
 *
 * @example
 * const redis = await connectRedis({ url: process.env.REDIS_URL! })
 * const limiter = new RateLimiter({ store: new RedisRateLimitStore({ redis }), plans })
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly redis: RedisClient
  readonly #prefix: string

  constructor(options: RedisRateLimitStoreOptions) {
    if (typeof options !== 'object' || options === null || typeof options.redis?.evalsha !== 'function') {
      throw validationError([{ path: 'options.redis', message: 'must be an ioredis Redis or Cluster client' }])
    }
    this.redis = options.redis
    this.#prefix = checkKeyPrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
  }

  /** The script, for tests and tools (its `reloads` counts NOSCRIPT recoveries). */
  static get script(): LuaScript {
    return script
  }

  /** The Redis key of a counter. */
  keyOf(target: RateLimitTarget, window: SlidingWindow): string {
    return `${tenantKey(target.tenantId, 'rl', this.#prefix)}:${encodeKeyPart(target.bucket)}:${window.windowMs}:${window.slots}`
  }

  async consume(target: RateLimitTarget, window: SlidingWindow, cost: number): Promise<RateLimitDecision> {
    const reply = (await script.run(this.redis, [this.keyOf(target, window)], [window.limit, slotLength(window), window.slots, cost])) as number[]
    return {
      allowed: reply[0] === 1,
      limit: window.limit,
      remaining: reply[1] as number,
      resetMs: reply[2] as number,
      retryAfterMs: reply[3] as number,
      at: reply[4] as number,
    }
  }
}
