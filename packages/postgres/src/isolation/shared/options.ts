import { TenantryError } from '@tenantry/core'

/** Which of the two walls of the shared model are up. Both, by default. */
export interface SharedWalls {
  /** The Kysely plugin adds the tenant predicate to every statement. */
  readonly plugin: boolean
  /** PostgreSQL row-level security checks every row against the transaction's tenant. */
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
   * Role that tenant transactions run as (set transaction-locally). It must not be
   * superuser, BYPASSRLS or the tables' owner; `install()` creates it. Default
   * `tenantry_app`. Set `null` when the pool already logs in as a safe role.
   */
  readonly runtimeRole?: string | null
  /** Transaction setting that carries the tenant id. Default `tenantry.tenant_id`. */
  readonly tenantSetting?: string
  /** Default: both walls up. */
  readonly walls?: Partial<SharedWalls>
}

export interface ResolvedSharedSchemaOptions {
  readonly tables: readonly string[]
  readonly globalTables: readonly string[]
  readonly schema: string
  readonly tenantColumn: string
  readonly runtimeRole: string | null
  readonly tenantSetting: string
  readonly walls: SharedWalls
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/
const SETTING = /^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/

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
  const runtimeRole = options.runtimeRole === undefined ? 'tenantry_app' : options.runtimeRole
  const tenantSetting = options.tenantSetting ?? 'tenantry.tenant_id'
  if (!IDENTIFIER.test(schema)) issues.push({ path: 'schema', message: 'must be a plain identifier' })
  if (!IDENTIFIER.test(tenantColumn)) issues.push({ path: 'tenantColumn', message: 'must be a plain identifier' })
  if (runtimeRole !== null && !IDENTIFIER.test(runtimeRole)) issues.push({ path: 'runtimeRole', message: 'must be a plain identifier or null' })
  if (!SETTING.test(tenantSetting)) issues.push({ path: 'tenantSetting', message: 'must look like "prefix.name"' })
  const walls: SharedWalls = { plugin: options.walls?.plugin ?? true, rls: options.walls?.rls ?? true }
  if (!walls.plugin && !walls.rls) issues.push({ path: 'walls', message: 'at least one wall (plugin or rls) must be up' })
  if (issues.length) {
    throw new TenantryError('VALIDATION_FAILED', `Invalid shared-schema options: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: issues })
  }
  return { tables: [...tables], globalTables: [...globalTables], schema, tenantColumn, runtimeRole, tenantSetting, walls }
}
