import {
  MemoryRateLimitStore, RateLimiter, TenantBulkhead, TenantryError, applyTenantChange, tenantAdmission,
  type FairShareLogger, type PlanRegistry, type RateLimitStore, type TenantAdmission,
} from '@tenantry/core'
import type { TenantCatalog } from '@tenantry/postgres'
import type { TenantryConfig } from './config.ts'
import type { Access } from './resolution.ts'

type RedisModule = typeof import('@tenantry/redis')
type RedisClient = Awaited<ReturnType<RedisModule['connectRedis']>>

/** What lives beside the catalog: cache invalidation and the rate-limit counters, in this process or in Redis. */
export interface SharedState {
  readonly admission: TenantAdmission | undefined
  close(): Promise<void>
}

async function loadRedis(): Promise<RedisModule> {
  try {
    // Loaded only when Redis is configured: ioredis is not worth its load time otherwise.
    return await import('@tenantry/redis')
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error
    throw new TenantryError('VALIDATION_FAILED', 'config.redis needs the Redis package: npm install @tenantry/redis ioredis', {
      cause: error,
      details: [{ path: 'config.redis', message: 'needs @tenantry/redis' }],
    })
  }
}

function redisOptions(redis: NonNullable<TenantryConfig['redis']>, logger: FairShareLogger): Parameters<RedisModule['connectRedis']>[0] {
  if (typeof redis === 'string') return { url: redis, logger }
  return 'url' in redis ? { url: redis.url, logger } : { cluster: redis.cluster, logger }
}

function warningLogger(warn: (message: string) => void): FairShareLogger {
  return { warn: (details, message) => warn(`${message} ${JSON.stringify(details)}`) }
}

/**
 * Keeps every cache current and builds the admission: without Redis, catalog
 * changes made in this process are applied to its caches and the counters are
 * in memory; with Redis, changes are published to every instance (a suspend on
 * one is seen by all within one pub/sub hop) and the counters are shared.
 */
export async function startSharedState(
  config: TenantryConfig, catalog: TenantCatalog, access: Access, plans: PlanRegistry | undefined, warn: (message: string) => void,
): Promise<SharedState> {
  const clients: RedisClient[] = []
  const closers: (() => Promise<void>)[] = []
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await Promise.allSettled(clients.map((c) => c.quit().catch(() => c.disconnect())))
  }
  try {
    let store: RateLimitStore = new MemoryRateLimitStore()
    if (config.redis === undefined) {
      const off = catalog.onChange((change) => applyTenantChange(change, { directory: access.directory, apiKeys: access.apiKeys }))
      closers.push(async () => off())
    } else {
      const redis = await loadRedis()
      const logger = warningLogger(warn)
      const options = redisOptions(config.redis, logger)
      // One connection publishes and counts, one subscribes (a subscribed connection can do nothing else).
      clients.push(await redis.connectRedis(options), await redis.connectRedis(options))
      const pending = [...clients]
      const invalidation = await redis.redisTenantInvalidation({
        redis: () => pending.shift() as RedisClient,
        directory: access.directory,
        apiKeys: access.apiKeys,
        onError: (error) => warn(`Tenantry cache invalidation: ${error instanceof Error ? error.message : String(error)}`),
      })
      const off = catalog.onChange(invalidation.listener)
      closers.push(async () => off(), () => invalidation.close())
      store = new redis.RedisRateLimitStore({ redis: clients[0]! })
    }
    const admission = buildAdmission(config, plans, store, warningLogger(warn))
    return { admission, close: closeAll }
  } catch (error) {
    await closeAll()
    throw error
  }
}

function buildAdmission(config: TenantryConfig, plans: PlanRegistry | undefined, store: RateLimitStore, logger: FairShareLogger): TenantAdmission | undefined {
  const rateLimits = plans?.rateLimits() ?? {}
  const concurrencies = plans?.concurrencies() ?? {}
  if (plans !== undefined && Object.keys(rateLimits).length > 0 && !Object.hasOwn(rateLimits, plans.defaultPlan)) {
    throw new TenantryError('VALIDATION_FAILED', `The default plan "${plans.defaultPlan}" needs a rateLimit when other plans have one: a plan without one gets the default plan's`, {
      details: [{ path: `config.plans.${plans.defaultPlan}.rateLimit`, message: 'is required when any plan has a rateLimit' }],
    })
  }
  const limiter = plans === undefined || Object.keys(rateLimits).length === 0
    ? undefined
    : new RateLimiter({
        store,
        plans: rateLimits,
        defaultPlan: plans.defaultPlan,
        onStoreError: config.limits?.onStoreError ?? 'open',
        logger,
      })
  const bulkheadConfig = config.limits?.bulkhead
  const bulkhead = bulkheadConfig === undefined && Object.keys(concurrencies).length === 0
    ? undefined
    : new TenantBulkhead({
        ...(bulkheadConfig === undefined ? {} : bulkheadConfig),
        plans: concurrencies,
        logger,
      })
  if (limiter === undefined && bulkhead === undefined) return undefined
  return tenantAdmission({ ...(limiter === undefined ? {} : { limiter }), ...(bulkhead === undefined ? {} : { bulkhead }) })
}
