import type { Scope } from '@tenantry/core'

/** One transaction-local setting: `set_config(name, value, true)`. */
export interface ScopeSetting {
  readonly name: string
  readonly value: string
  /**
   * `schema`: the value is a schema name that must exist; it is cast through
   * `regnamespace` in the same statement, so a missing schema fails the
   * transaction (SQLSTATE 3F000) before the query runs, and the setting gets the
   * canonical quoted name.
   */
  readonly check?: 'schema'
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
      const value = s.check === 'schema' ? `$${2 * i + 2}::regnamespace::text` : `$${2 * i + 2}`
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
