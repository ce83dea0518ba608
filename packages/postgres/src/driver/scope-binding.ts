import type { Scope } from '@tenantry/core'

/**
 * One transaction-local setting: `set_config(name, value, true)`, or the
 * transaction's `search_path`.
 *
 * A search_path lists schema names that must exist: each is cast through
 * `regnamespace` in the same statement, so a missing schema fails the
 * transaction (SQLSTATE 3F000) before the query runs, and `pg_temp` is put last,
 * so a temporary object can never shadow a tenant's table.
 */
export type ScopeSetting =
  | { readonly name: string; readonly value: string; readonly schemas?: undefined }
  | { readonly name: 'search_path'; readonly schemas: readonly string[]; readonly value?: undefined }

/**
 * What an isolation model asks of every transaction for the scope in force: the
 * settings to apply transaction-locally (role, scope token, search_path). It
 * throws a TenantryError when the scope may not query at all (no tenant,
 * suspended).
 */
export interface ScopeBinding {
  settingsFor(scope: Scope | undefined): readonly ScopeSetting[]
}

const statementCache = new Map<string, string>()

/**
 * `select set_config($1, $2, true), ...` for these settings: one statement,
 * cached by shape (the values are always parameters, never part of the text).
 *
 * @example
 * setConfigSql([{ name: 'search_path', schemas: ['"tenant_1"'] }])
 * // select pg_catalog.set_config($1, $2::pg_catalog.regnamespace::pg_catalog.text operator(pg_catalog.||) ', ' operator(pg_catalog.||) 'pg_temp', true)
 */
export function setConfigSql(settings: readonly ScopeSetting[]): string {
  let shape = ''
  for (const s of settings) shape += s.schemas === undefined ? 'v,' : `s${s.schemas.length},`
  let sql = statementCache.get(shape)
  if (sql === undefined) {
    let n = 0
    // Fully qualified: this statement is parsed with the session's search_path, before
    // it pins one, so an unqualified name could resolve to a function a tenant made.
    const calls = settings.map((s) => {
      const name = `$${++n}`
      if (s.schemas === undefined) return `pg_catalog.set_config(${name}, $${++n}, true)`
      const schemas = s.schemas.map(() => `$${++n}::pg_catalog.regnamespace::pg_catalog.text`)
      return `pg_catalog.set_config(${name}, ${[...schemas, "'pg_temp'"].join(" operator(pg_catalog.||) ', ' operator(pg_catalog.||) ")}, true)`
    })
    sql = `select ${calls.join(', ')}`
    statementCache.set(shape, sql)
  }
  return sql
}

/** Parameters for setConfigSql(settings). */
export function setConfigParameters(settings: readonly ScopeSetting[]): string[] {
  const parameters: string[] = []
  for (const s of settings) {
    parameters.push(s.name)
    if (s.schemas === undefined) parameters.push(s.value)
    else for (const schema of s.schemas) parameters.push(schema)
  }
  return parameters
}

/**
 * The settings of recent scopes by a key that names them whole (the signed
 * scope token, which names the tenant and its expiry, and the schema where
 * one is set): the same array while the key holds, so what is built from it
 * (the preamble statement) is built once. Bounded: the oldest key goes first.
 *
 * @example
 * const memo = new ScopeSettingsMemo()
 * memo.get(token, () => tenantTransactionSettings(runtime, path, token))
 */
export class ScopeSettingsMemo {
  readonly #max: number
  readonly #entries = new Map<string, readonly ScopeSetting[]>()

  constructor(max = 4096) {
    this.#max = max
  }

  get(key: string, build: () => ScopeSetting[]): readonly ScopeSetting[] {
    let settings = this.#entries.get(key)
    if (settings !== undefined) return settings
    settings = Object.freeze(build())
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(key, settings)
    return settings
  }
}
