import type { Scope } from '@tenantry/core'

/** One transaction-local setting: `set_config(name, value, true)`. */
export interface ScopeSetting {
  readonly name: string
  readonly value: string
}

/**
 * What an isolation model asks of every transaction for the scope in force: the
 * settings to apply transaction-locally (tenant id, role, search_path). It throws
 * a TenantryError when the scope may not query at all (no tenant, suspended).
 */
export interface ScopeBinding {
  settingsFor(scope: Scope | undefined): readonly ScopeSetting[]
}

const statementCache = new Map<number, string>()

/** `select set_config($1, $2, true), ...` for `count` settings (one statement). */
export function setConfigSql(count: number): string {
  let sql = statementCache.get(count)
  if (sql === undefined) {
    const calls = Array.from({ length: count }, (_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`)
    sql = `select ${calls.join(', ')}`
    statementCache.set(count, sql)
  }
  return sql
}

/** Parameters for setConfigSql(settings.length). */
export function setConfigParameters(settings: readonly ScopeSetting[]): string[] {
  return settings.flatMap((s) => [s.name, s.value])
}
