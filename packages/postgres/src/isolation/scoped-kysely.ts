import type { ScopedTenant } from '@tenantry/core'
import { TenantScopePlugin, type TenantQueryRules } from '@tenantry/kysely'
import { Kysely, type KyselyConfig, type KyselyPlugin } from 'kysely'
import type { ConnectionRoute } from '../driver/route.ts'
import { TenantDialect } from '../driver/tenant-dialect.ts'
import type { DriverStats } from '../driver/tenant-driver.ts'
import { statementCacheCapacity, type StatementCacheSize } from '../driver/statement-cache.ts'

/** The plugin's rules for a model's tenants, and the tables it rewrites for them. */
export interface ModelQueryRules extends TenantQueryRules {
  /** The tenant tables and column, when `rewrite`. */
  readonly tables: readonly string[]
  readonly tenantColumn: string
  /** false: RLS-only (values and refusals, no predicates). */
  readonly filter: boolean
}

export interface ScopedKyselyOptions {
  /**
   * Extra Kysely plugins. They run before the tenant plugin, so nothing they add
   * escapes the tenant scope (a plugin added later with `withPlugin` produces a query
   * the tenant plugin never saw, which the driver refuses in a tenant scope).
   */
  readonly plugins?: readonly KyselyPlugin[]
  readonly log?: KyselyConfig['log']
  /**
   * Named prepared statements kept per pooled connection, for the queries and
   * the scope preamble: PostgreSQL parses and plans each query shape once per
   * connection and reuses the plan for every tenant. A count (default 256) or
   * `'off'` (behind a transaction pooler that cannot carry prepared
   * statements, such as PgBouncer before 1.21 in transaction mode).
   */
  readonly statementCache?: StatementCacheSize
}

/** A table name no tenant table can have: the plugin needs one when no table is filtered. */
const NO_TABLES = ['__tenantry_no_tenant_tables__']

/**
 * The one way every isolation model builds its Kysely instance: the tenant plugin
 * last, and the Tenantry driver on the model's connection route. `rules` are the
 * model's (`queryRules()`), or, for several models, the rewritten tables and a
 * `rulesFor` that answers per tenant.
 */
export function scopedKysely<DB>(
  route: ConnectionRoute,
  rules: ModelQueryRules | (Omit<ModelQueryRules, 'rewrite' | 'allowedSchemas'> & { readonly rulesFor: (tenant: ScopedTenant) => TenantQueryRules }),
  stats: DriverStats,
  options: ScopedKyselyOptions = {},
): Kysely<DB> {
  const rulesFor = 'rulesFor' in rules ? rules.rulesFor : () => rules
  const tenantPlugin = new TenantScopePlugin({
    tables: rules.tables.length > 0 ? rules.tables : NO_TABLES,
    tenantColumn: rules.tenantColumn,
    filter: rules.filter,
    rulesFor,
  })
  const dialect = new TenantDialect({ route, requireStamp: true, stats, statementCache: statementCacheCapacity(options.statementCache) })
  const config: KyselyConfig = { dialect, plugins: [...(options.plugins ?? []), tenantPlugin] }
  return new Kysely<DB>(options.log ? { ...config, log: options.log } : config)
}

/** Fresh zeroed driver counters. */
export function newDriverStats(): DriverStats {
  return { roundTrips: 0, statements: 0, transactions: 0 }
}
