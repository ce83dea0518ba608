import { TenantScopePlugin, type TenantScopePluginOptions } from '@tenantry/kysely'
import { Kysely, type KyselyConfig, type KyselyPlugin } from 'kysely'
import type { ConnectionRoute } from '../driver/route.ts'
import { TenantDialect } from '../driver/tenant-dialect.ts'
import type { DriverStats } from '../driver/tenant-driver.ts'

export interface ScopedKyselyOptions {
  /**
   * Extra Kysely plugins. They run before the tenant plugin, so nothing they add
   * escapes the tenant scope (a plugin added later with `withPlugin` produces a query
   * the tenant plugin never saw, which the driver refuses in a tenant scope).
   */
  readonly plugins?: readonly KyselyPlugin[]
  readonly log?: KyselyConfig['log']
}

/** A table name no tenant table can have: the plugin needs one when no table is filtered. */
const NO_TABLES = ['__tenantry_no_tenant_tables__']

/**
 * The one way every isolation model builds its Kysely instance: the tenant plugin
 * last, and the Tenantry driver on the model's connection route.
 */
export function scopedKysely<DB>(
  route: ConnectionRoute,
  plugin: Omit<TenantScopePluginOptions, 'tables'> & { readonly tables: readonly string[] },
  stats: DriverStats,
  options: ScopedKyselyOptions = {},
): Kysely<DB> {
  const tenantPlugin = new TenantScopePlugin({ ...plugin, tables: plugin.tables.length > 0 ? plugin.tables : NO_TABLES })
  const dialect = new TenantDialect({ route, requireStamp: true, stats })
  const config: KyselyConfig = { dialect, plugins: [...(options.plugins ?? []), tenantPlugin] }
  return new Kysely<DB>(options.log ? { ...config, log: options.log } : config)
}

/** Fresh zeroed driver counters. */
export function newDriverStats(): DriverStats {
  return { roundTrips: 0, statements: 0, transactions: 0 }
}
