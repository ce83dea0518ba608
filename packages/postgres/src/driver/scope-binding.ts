import type { Scope } from '@tenantry/core'

/** One transaction-local setting: `set_config(name, value, true)`. */
export interface ScopeSetting {
  readonly name: string
  readonly value: string
  /**
   * `search_path`: the value is one schema name that must exist. It is cast through
   * `regnamespace` in the same statement, so a missing schema fails the
   * transaction (SQLSTATE 3F000) before the query runs, and `pg_temp` is put last
   * on the path, so a temporary table left on a pooled connection can never shadow
   * the tenant's tables.
   */
  readonly check?: 'search_path'
}

/**
 * What an isolation model asks of every transaction for the scope in force: the
 * settings to apply transaction-locally (tenant id, role, search_path). It throws
 * a TenantryError when the scope may not query at all (no tenant, suspended).
 */
export interface ScopeBinding {
  settingsFor(scope: Scope | undefined): readonly ScopeSetting[]
}

const statementCache = new Map<string, string>()

/** `select set_config($1, $2, true), ...` for these settings (one statement, cached by shape). */
export function setConfigSql(settings: readonly ScopeSetting[]): string {
  const shape = settings.map((s) => s.check ?? '-').join(',')
  let sql = statementCache.get(shape)
  if (sql === undefined) {
    const calls = settings.map((s, i) => {
      const value = s.check === 'search_path' ? `$${2 * i + 2}::regnamespace::text || ', pg_temp'` : `$${2 * i + 2}`
      return `set_config($${2 * i + 1}, ${value}, true)`
    })
    sql = `select ${calls.join(', ')}`
    statementCache.set(shape, sql)
  }
  return sql
}

/** Parameters for setConfigSql(settings). */
export function setConfigParameters(settings: readonly ScopeSetting[]): string[] {
  return settings.flatMap((s) => [s.name, s.value])
}
