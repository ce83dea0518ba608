/**
 * Catalog-cache invalidation over Redis pub/sub: every instance's
 * CachedTenantDirectory and CachedApiKeyVerifier drop a tenant as soon as the
 * catalog changes it on any instance. See docs/resolution.md.
 */
export {
  DEFAULT_INVALIDATION_CHANNEL,
  publishTenantChange,
  redisTenantInvalidation,
  type InvalidationTargets,
  type PubSubRedis,
  type RedisTenantInvalidationOptions,
  type TenantInvalidation,
} from './pubsub.ts'
