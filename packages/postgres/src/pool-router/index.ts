/**
 * The pool router of the `database` isolation model: connections to many tenant
 * databases under one global connection budget.
 *
 * @example
 * import { PoolRouter, serverDatabases } from '@tenantry/postgres'
 *
 * const router = new PoolRouter({
 *   databases: serverDatabases({ default: process.env.DATABASE_URL! }),
 *   budget: 50,
 *   maxPerDatabase: 5,
 * })
 * await router.withClient(tenant.placement as DatabaseKey, (client) => client.query('select 1'))
 */
export { PoolRouter } from './pool-router.ts'
export {
  DEFAULT_SERVER,
  type DatabaseKey,
  type PhysicalConnection,
  type ResolvedDatabaseKey,
  type RoutedClient,
  type TenantDatabases,
} from './contract.ts'
export type { PoolRouterOptions } from './options.ts'
export type { DatabaseStats, PoolRouterStats } from './stats.ts'
export { serverDatabases, type LoginPasswords, type ServerDatabasesOptions } from './server-databases.ts'
