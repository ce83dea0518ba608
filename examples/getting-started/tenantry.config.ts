// The one Tenantry config: the app passes it to createTenantry, and the `tenantry`
// command line reads it from this file.
import { defineConfig } from 'tenantry'

export default defineConfig({
  // PostgreSQL when DATABASE_URL is set (the tables' owner); embedded PGlite in ./.tenantry otherwise.
  database: process.env.DATABASE_URL || { embedded: './.tenantry' },
  models: {
    shared: { tables: ['projects'] },   // tenants' rows side by side, told apart by tenant_id
    schema: true,                       // or a schema of its own for each tenant
  },
  migrations: {
    tenant: new URL('./migrations/tenant/', import.meta.url),     // the shared tables, then every tenant schema
    control: new URL('./migrations/control/', import.meta.url),   // your global tables, once
  },
  // Redis when REDIS_URL is set: rate-limit counters and cache invalidation shared by every instance.
  ...(process.env.REDIS_URL ? { redis: process.env.REDIS_URL } : {}),
  // A request to acme.localhost is tenant acme's (so is one with the header X-Tenant-ID: acme).
  resolution: { baseDomains: ['localhost'] },
})
