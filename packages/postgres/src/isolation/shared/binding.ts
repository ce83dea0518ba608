import { queryScope, type Scope } from '@tenantry/core'
import pg from 'pg'
import { ScopeSettingsMemo, type ScopeBinding, type ScopeSetting } from '../../driver/scope-binding.ts'
import { SCOPE_SETTING } from '../../walls/guard-sql.ts'
import type { RuntimeAccess } from '../../walls/runtime-login.ts'
import type { ScopeSigner } from '../../walls/scope-signer.ts'

/**
 * The settings of a tenant transaction on the shared database (shared and schema
 * models): the runtime role when the login is someone else, the pinned
 * search_path (pg_temp last) and the signed scope token. All are
 * transaction-local, so a transaction pooler can hand the connection on safely.
 *
 * @example
 * const settings = tenantTransactionSettings(runtime, ['public'], signer.tokenFor(tenant.id))
 */
export function tenantTransactionSettings(runtime: RuntimeAccess, searchPath: ScopeSetting, token: string | undefined): ScopeSetting[] {
  const settings: ScopeSetting[] = []
  if (runtime.switchesRole) settings.push({ name: 'role', value: runtime.role })
  settings.push(searchPath)
  if (token !== undefined) settings.push({ name: SCOPE_SETTING, value: token })
  return settings
}

/**
 * A search_path setting for schemas known to exist (doctor checks them: the
 * shared tables' schemas, a tenant database's): the value as text, `pg_temp`
 * last. A tenant schema, which may be missing, is checked in the statement
 * instead (`{ schemas }`), which costs two casts per transaction.
 *
 * Why pinned at all: unqualified names in a tenant's SQL must resolve in the
 * model's schemas, not in the login's own search_path (`"$user", public`, or
 * one a role default set), and when `pg_temp` is not named PostgreSQL searches
 * it *first* for tables, so a temporary table could stand in for a tenant
 * table. Why as text: the value is built once, sent as a parameter, and costs
 * no catalog lookup per transaction. Each name is quoted because search_path
 * is parsed as a list: unquoted, `Tenants` would be folded to `tenants` and a
 * name holding a comma or a quote would put another schema on the path. What
 * text does not do is check: PostgreSQL silently skips a schema that does not
 * exist, so a text path is safe only for schemas doctor refuses to start
 * without (`search_path.missing`).
 *
 * @example
 * pinnedSearchPath(['public']) // { name: 'search_path', value: '"public", pg_temp' }
 */
export function pinnedSearchPath(schemas: readonly string[]): ScopeSetting {
  return { name: 'search_path', value: [...schemas.map((s) => pg.escapeIdentifier(s)), 'pg_temp'].join(', ') }
}

/**
 * The shared model's transaction settings. A system scope runs on the owner's
 * pool as the connecting role, with no settings.
 */
export function sharedSchemaBinding(options: {
  readonly runtime: RuntimeAccess
  readonly searchPath: readonly string[]
  readonly rls: boolean
  readonly signer: () => ScopeSigner
}): ScopeBinding {
  const path = pinnedSearchPath(options.searchPath)
  const memo = new ScopeSettingsMemo()
  const withoutToken = tenantTransactionSettings(options.runtime, path, undefined)
  return {
    settingsFor(scope: Scope | undefined): readonly ScopeSetting[] {
      const checked = queryScope(scope)
      if (checked.kind === 'system') return []
      if (!options.rls) return withoutToken
      const token = options.signer().tokenFor(checked.tenant.id)
      return memo.get(token, () => tenantTransactionSettings(options.runtime, path, token))
    },
  }
}
