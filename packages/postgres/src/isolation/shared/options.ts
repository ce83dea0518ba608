import { TenantryError } from '@tenantry/core'
import type { RuntimeLogin } from '../../walls/runtime-login.ts'
import { isTrustedFunctionList, TRUSTED_FUNCTIONS_RULE } from '../trusted-functions.ts'

/** Which of the two walls of the shared model are up. Both, by default. */
export interface SharedWalls {
  /** The Kysely plugin adds the tenant predicate to every statement. */
  readonly plugin: boolean
  /** PostgreSQL row-level security checks every row against the transaction's signed tenant scope. */
  readonly rls: boolean
}

export interface SharedSchemaOptions {
  /** Tables that hold tenant rows (each with the tenant column, NOT NULL). */
  readonly tables: readonly string[]
  /**
   * Tables shared by every tenant (plans, countries, feature flags): no tenant
   * column, no filter, no RLS. `install()` grants the runtime role SELECT on them.
   */
  readonly globalTables?: readonly string[]
  /** Schema of those tables. Default `public`. */
  readonly schema?: string
  /** Column that names the tenant. Default `tenant_id` (type uuid). */
  readonly tenantColumn?: string
  /**
   * Role that tenant transactions run as. It must not be superuser, BYPASSRLS
   * or the tables' owner; `install()` creates it. Default `tenantry_app`.
   */
  readonly runtimeRole?: string
  /**
   * How tenant transactions reach the runtime role: on PostgreSQL, by default, a
   * pool that logs in as it (see `RuntimeLogin`); on PGlite a role switch.
   */
  readonly runtimeLogin?: RuntimeLogin
  /**
   * The schemas of a tenant transaction's search_path, pinned per transaction
   * (`pg_temp` is always put last). Default: `[schema]`. Add the schemas of
   * extensions your queries call unqualified.
   */
  readonly searchPath?: readonly string[]
  /**
   * SECURITY DEFINER functions the runtime role may call, reviewed as
   * tenant-safe, by signature (`'public.count_notes(integer)'`); doctor
   * refuses any other it can reach, overloads of these included.
   */
  readonly trustedFunctions?: readonly string[]
  /** Default: both walls up. */
  readonly walls?: Partial<SharedWalls>
  /**
   * `install()` gives each tenant table's tenant column the default
   * `tenantry_guard.tenant()`: the tenant of the transaction's signed scope. An
   * insert that leaves the column out (an ORM over `tenantry.pool`) lands in the
   * current tenant; one naming another tenant is refused by the policy's WITH
   * CHECK; outside a tenant scope the default is NULL and NOT NULL refuses the
   * row. Needs the RLS wall (the scope token is set with it). Default true.
   */
  readonly tenantDefault?: boolean
}

export interface ResolvedSharedSchemaOptions {
  readonly tables: readonly string[]
  readonly globalTables: readonly string[]
  readonly schema: string
  readonly tenantColumn: string
  readonly runtimeRole: string
  readonly runtimeLogin: RuntimeLogin | undefined
  readonly searchPath: readonly string[]
  readonly trustedFunctions: readonly string[]
  readonly walls: SharedWalls
  readonly tenantDefault: boolean
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/** Validates options up front, so misconfiguration fails at start. */
export function resolveSharedSchemaOptions(options: SharedSchemaOptions): ResolvedSharedSchemaOptions {
  const issues: { path: string; message: string }[] = []
  const tables = options.tables ?? []
  if (!Array.isArray(tables) || tables.length === 0) issues.push({ path: 'tables', message: 'must list at least one tenant table' })
  tables.forEach((t, i) => {
    if (typeof t !== 'string' || !IDENTIFIER.test(t)) issues.push({ path: `tables.${i}`, message: 'must be a plain table name (letters, digits, _)' })
  })
  const globalTables = options.globalTables ?? []
  if (!Array.isArray(globalTables)) issues.push({ path: 'globalTables', message: 'must be an array of table names' })
  else globalTables.forEach((t, i) => {
    if (typeof t !== 'string' || !IDENTIFIER.test(t)) issues.push({ path: `globalTables.${i}`, message: 'must be a plain table name (letters, digits, _)' })
    else if (tables.includes(t)) issues.push({ path: `globalTables.${i}`, message: `"${t}" is listed as a tenant table too` })
  })
  const schema = options.schema ?? 'public'
  const tenantColumn = options.tenantColumn ?? 'tenant_id'
  if ((options as { runtimeRole?: unknown }).runtimeRole === null) {
    issues.push({ path: 'runtimeRole', message: 'cannot be null: tenant transactions always run as a runtime role (to log in as your own safe role, pass runtimeLogin: { pool })' })
  }
  const runtimeRole = options.runtimeRole ?? 'tenantry_app'
  if (!IDENTIFIER.test(schema)) issues.push({ path: 'schema', message: 'must be a plain identifier' })
  if (!IDENTIFIER.test(tenantColumn)) issues.push({ path: 'tenantColumn', message: 'must be a plain identifier' })
  if (runtimeRole !== null && (typeof runtimeRole !== 'string' || !IDENTIFIER.test(runtimeRole))) issues.push({ path: 'runtimeRole', message: 'must be a plain identifier' })
  if ((options as { tenantSetting?: unknown }).tenantSetting !== undefined) {
    issues.push({ path: 'tenantSetting', message: 'is gone: the tenant scope is a signed token Tenantry sets (see docs/security.md)' })
  }
  const searchPath = options.searchPath ?? [schema]
  if (!Array.isArray(searchPath) || searchPath.length === 0 || !searchPath.every((s) => typeof s === 'string' && IDENTIFIER.test(s) && s !== 'pg_temp')) {
    issues.push({ path: 'searchPath', message: 'must list at least one schema (plain identifiers; pg_temp is added last by Tenantry)' })
  }
  const trustedFunctions = options.trustedFunctions ?? []
  if (!isTrustedFunctionList(trustedFunctions)) issues.push({ path: 'trustedFunctions', message: TRUSTED_FUNCTIONS_RULE })
  const walls: SharedWalls = { plugin: options.walls?.plugin ?? true, rls: options.walls?.rls ?? true }
  if (!walls.plugin && !walls.rls) issues.push({ path: 'walls', message: 'at least one wall (plugin or rls) must be up' })
  const tenantDefault = options.tenantDefault ?? walls.rls
  if (typeof tenantDefault !== 'boolean') issues.push({ path: 'tenantDefault', message: 'must be true or false' })
  else if (tenantDefault && !walls.rls) issues.push({ path: 'tenantDefault', message: 'needs the rls wall: the default reads the signed tenant scope, which is set only with it' })
  if (issues.length) {
    throw new TenantryError('VALIDATION_FAILED', `Invalid shared-schema options: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: issues })
  }
  return {
    tables: [...tables], globalTables: [...globalTables], schema, tenantColumn, runtimeRole, runtimeLogin: options.runtimeLogin,
    searchPath: [...searchPath], trustedFunctions: [...trustedFunctions], walls, tenantDefault: tenantDefault === true,
  }
}
