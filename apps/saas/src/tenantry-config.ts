/**
 * The reference SaaS's Tenantry setup, in one place: the app passes it to
 * `createTenantry`, and the repo's `tenantry.config.ts` hands the same object
 * to the `tenantry` CLI.
 */
import { fileURLToPath } from 'node:url'
import type { PlanDefinition } from '@tenantry/core'
import type { TenantryConfig } from 'tenantry'
import type { SaasConfig } from './config/index.ts'
import { tenantTables } from './data/schema.ts'

/** The SaaS's tenant migrations folder. */
export const tenantMigrationsDir = fileURLToPath(new URL('../migrations/tenant/', import.meta.url))

/**
 * The plans a tenant may be on, with their rate limits (a tenant may override
 * its limit in `settings.rateLimit`, its concurrency in `settings.bulkhead`).
 */
export const saasPlans = {
  free: { rateLimit: { limit: 600, windowMs: 60_000 } },
  pro: { rateLimit: { limit: 6_000, windowMs: 60_000 } },
  enterprise: { rateLimit: { limit: 60_000, windowMs: 60_000 } },
} as const satisfies Record<string, PlanDefinition>

export interface SaasTenantryOptions {
  /** The role tenant transactions run as (tests use a unique one). Default `tenantry_app`. */
  readonly runtimeRole?: string
  /** How long a resolved tenant and a verified key are served from memory. */
  readonly cache?: { readonly tenantTtlMs?: number; readonly apiKeyTtlMs?: number }
}

/**
 * The SaaS's Tenantry config from its environment: PostgreSQL at DATABASE_URL
 * or embedded PGlite in TENANTRY_DATA_DIR; the three models (projects and
 * tasks shared by `tenant_id`, a schema or a database per tenant); its tenant
 * migrations; its plans; a bulkhead of 4 requests per tenant (one tenant can
 * never hold the whole pool of 10); tenants at `<slug>.<base domain>`, their
 * custom domains or `X-Tenant-ID`, each request with one of the tenant's API
 * keys; Redis at REDIS_URL for the counters and cache invalidation.
 *
 * @example
 * const tenantry = await createTenantry<SaasDatabase>(saasTenantryConfig(loadConfig()))
 */
export function saasTenantryConfig(
  config: Pick<SaasConfig, 'databaseUrl' | 'dataDir' | 'baseDomain'> & { readonly redisUrl?: string | undefined },
  options: SaasTenantryOptions = {},
): TenantryConfig {
  return {
    database: config.databaseUrl ?? { embedded: config.dataDir },
    models: {
      shared: { tables: [...tenantTables] },
      schema: true,
      database: true,
    },
    migrations: { tenant: tenantMigrationsDir },
    plans: saasPlans,
    defaultPlan: 'free',
    limits: { bulkhead: { maxConcurrent: 4, maxQueue: 16, queueTimeoutMs: 2_000 } },
    resolution: { baseDomains: [config.baseDomain] },
    actor: 'saas',
    ...(config.redisUrl === undefined ? {} : { redis: config.redisUrl }),
    ...(options.runtimeRole === undefined ? {} : { runtimeRole: options.runtimeRole }),
    ...(options.cache === undefined ? {} : { cache: options.cache }),
  }
}
