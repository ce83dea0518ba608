/**
 * The `tenantry` CLI's config for the reference SaaS: the same object `npm start`
 * passes to createTenantry, from the same environment (DATABASE_URL, or the
 * embedded database in TENANTRY_DATA_DIR, default ./.tenantry).
 *
 *   npm run tenantry -- tenants list
 *
 * With the embedded database, stop `npm start` first: one process at a time
 * may open a data folder.
 */
import { defineConfig } from 'tenantry'
import { loadConfig, saasTenantryConfig } from '@tenantry/saas'

export default defineConfig(() => saasTenantryConfig(loadConfig()))
