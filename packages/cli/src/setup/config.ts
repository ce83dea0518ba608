import {
  PlanRegistry, TenantryError, type IsolationModelName, type PlanDefinition, type QueryObserver, type RequestObserver, type TenantRequest, type TenantResolver, type ValidationIssue,
} from '@tenantry/core'
import type { DatabaseProvisioner, MigrationDefinition, PoolRouter, PostgresTarget, SharedSchemaOptions, TenantRecord } from '@tenantry/postgres'
import type pg from 'pg'

/** A server's connection: a URL, or a node-postgres config. */
export type ServerConnection = string | pg.ClientConfig

/**
 * Where the data is:
 * - a PostgreSQL URL (the owner of the tables; Tenantry makes the runtime roles),
 *   or `{ url, poolSize }`;
 * - `{ embedded: './folder' }`: PGlite, PostgreSQL in WASM, in this process (no
 *   server; install `@electric-sql/pglite`), or `{ embedded: 'memory' }`, gone at close;
 * - `{ target }`: a target you opened (with the router and provisioner the
 *   database model needs, if you use it). You close it.
 */
export type DatabaseConfig =
  | string
  | {
    readonly url: string
    readonly poolSize?: number
    /**
     * `'transaction'`: the URL is a transaction pooler (PgBouncer in
     * transaction mode) that cannot carry prepared statements across
     * transactions: the statement cache is off (a `statementCache` count is
     * refused). Migrations, installs and the fleet lock need a session: give
     * `directUrl` for them, or set `migrate` and `install` to false and run
     * them against PostgreSQL directly. Left undeclared, a transaction pooler
     * is found at start and refused (doctor's `connection.transaction_pooler`).
     * See docs/pgbouncer.md.
     *
     * @example
     * createTenantry({ database: { url: process.env.DATABASE_URL!, pooler: 'transaction', directUrl: process.env.DIRECT_URL! }, models })
     */
    readonly pooler?: 'transaction' | 'none'
    /**
     * The owner's URL straight to PostgreSQL (or to a session-mode pool), for
     * the work that needs a session of its own: the catalog and its installs,
     * migrations and the fleet lock, provisioning (schemas, tenant databases
     * and their roles), doctor, and `runAsSystem` work. Tenant traffic (the
     * runtime login of the shared and schema models, the database model's
     * tenant roles on the default server) goes through `url`, which becomes the
     * pooler. With it, `migrate` and `install` may stay on behind
     * `pooler: 'transaction'`. Checked at start: a `directUrl` that turns out
     * to be a transaction pooler is refused (ISOLATION_MISCONFIGURED). Default:
     * `url` for everything. Like Prisma's `directUrl`.
     *
     * @example
     * createTenantry({
     *   database: {
     *     url: 'postgres://app@pgbouncer:6432/app',      // tenant traffic, through PgBouncer
     *     pooler: 'transaction',
     *     directUrl: 'postgres://app@db:5432/app',        // migrations, installs, provisioning
     *   },
     *   models: { shared: { tables: ['projects'] } },
     * })
     */
    readonly directUrl?: string
  }
  | { readonly embedded: string }
  | { readonly target: PostgresTarget; readonly router?: PoolRouter; readonly provisioner?: DatabaseProvisioner }

/** The shared-schema model: tenant rows side by side, told apart by `tenant_id`. */
export type SharedModelConfig = Omit<SharedSchemaOptions, 'runtimeRole' | 'runtimeLogin' | 'walls'>

/** The schema-per-tenant model. */
export interface SchemaModelConfig {
  readonly trustedFunctions?: readonly string[]
  readonly sequenceGrants?: boolean
}

/** The database-per-tenant model. */
export interface DatabaseModelConfig {
  /**
   * The servers tenant databases are made on, by name (an owner's connection
   * each). Default: `{ default: <the database URL> }`. Embedded: one PGlite per
   * tenant database under the data folder.
   */
  readonly servers?: Readonly<Record<string, ServerConnection>>
  /** Server new tenants go to when `tenants.create` is not told. Default: `default`. */
  readonly defaultServer?: string
  /** Most connections open across every tenant database. Default 20 (embedded: 4 open databases). */
  readonly budget?: number
  /** Most connections one tenant database may hold. Default 5. */
  readonly maxPerDatabase?: number
  /** An idle connection is closed after this long. Default 30 000 ms (embedded: 60 000). */
  readonly idleTimeoutMs?: number
  /** How tenant roles log in: a generated password kept by Tenantry (`'stored'`, default), or none (trust/certificates). */
  readonly runtimePassword?: 'stored' | 'none'
  readonly searchPath?: readonly string[]
  readonly trustedFunctions?: readonly string[]
}

/** The isolation models tenants may be placed in; at least one. */
export interface ModelsConfig {
  readonly shared?: SharedModelConfig
  readonly schema?: true | SchemaModelConfig
  readonly database?: true | DatabaseModelConfig
}

/** A migration set: a folder of `.sql` / module files, or the migrations themselves. */
export type MigrationSource = string | URL | readonly MigrationDefinition[]

export interface MigrationsConfig {
  /** Run once for the shared tables and once per tenant schema and database. */
  readonly tenant?: MigrationSource
  /** Run once per fleet, in the control database (the catalog's). */
  readonly control?: MigrationSource
}

/** How a tenant route finds its tenant and checks its caller. */
export interface ResolutionConfig {
  /**
   * Tenants are `<slug>.<base domain>`; any other host is looked up as a
   * tenant's custom domain. Default: none (no host resolution).
   */
  readonly baseDomains?: readonly string[]
  /** Header naming the tenant (slug or id). Default `x-tenant-id`; `false` for none. */
  readonly header?: string | false
  /** Path prefix naming the tenant (`'/t/'` for `/t/acme/…`). Default: none. */
  readonly pathPrefix?: string
  /** Replaces the resolvers above (subdomain, custom domain, header, path). */
  readonly resolvers?: readonly TenantResolver[]
  /**
   * How a caller proves it may act for the tenant:
   * - `'api-key'` (default): `Authorization: Bearer <key>`, a key of the resolved tenant;
   * - `'api-key-names-tenant'`: the same, and the key alone identifies the tenant
   *   (no host or header needed);
   * - `'none'`: no check here (your own authentication runs after Tenantry's);
   * - your function `(request, tenant) => auth`, kept as the request's `tenantAuth`.
   */
  readonly authenticate?: 'api-key' | 'api-key-names-tenant' | 'none' | ((request: TenantRequest, tenant: TenantRecord) => Promise<unknown>)
}

/** Per-tenant rate limits (from the plans) and bulkheads. */
export interface LimitsConfig {
  /** Requests one tenant may have in flight and queued, unless its plan says otherwise. Default: no bulkhead. */
  readonly bulkhead?: { readonly maxConcurrent: number; readonly maxQueue?: number; readonly queueTimeoutMs?: number }
  /** Counters unreachable (Redis down): admit with a warning (`'open'`, default) or refuse. */
  readonly onStoreError?: 'open' | 'closed'
}

/**
 * Everything `createTenantry` needs; `tenantry.config.ts` default-exports the
 * same object for the CLI. Only `database` and `models` are required.
 */
export interface TenantryConfig {
  readonly database: DatabaseConfig
  readonly models: ModelsConfig
  readonly migrations?: MigrationsConfig
  /**
   * Run the fleet's migrations at start (waiting for another instance's run):
   * default true. `false`: your deploy runs `tenantry migrate` first.
   */
  readonly migrate?: boolean
  /**
   * Install the catalog and each model's walls at start: default true. `false`
   * only connects (the CLI does this: `tenantry migrate` installs as it goes).
   */
  readonly install?: boolean
  /** At start, doctor's errors stop the start (`'refuse'`, default), are reported (`'warn'`), or doctor does not run (`'off'`). */
  readonly doctor?: 'refuse' | 'warn' | 'off'
  /**
   * Named prepared statements kept per pooled connection (queries and the
   * scope preamble): each query shape is parsed and planned once per
   * connection, then reused for every tenant. A count (default 256) or `'off'`:
   * set `'off'` behind a transaction pooler that cannot carry prepared
   * statements (PgBouncer before 1.21 in transaction mode). See docs/performance.md.
   */
  readonly statementCache?: number | 'off'
  /** The role tenant transactions run as (never superuser, BYPASSRLS or an owner). Default `tenantry_app`. */
  readonly runtimeRole?: string
  /** The model of a tenant created without `isolation`. Default: the first of shared, schema, database configured. */
  readonly defaultIsolation?: IsolationModelName
  /** The plans tenants may be on, with their limits and settings checks. Default: any plan name, no limits. */
  readonly plans?: Readonly<Record<string, PlanDefinition>> | PlanRegistry
  /** The plan of a tenant created without one. Default: the first plan. */
  readonly defaultPlan?: string
  /** Redis (`redis://…`, or `{ cluster: [...] }`): rate-limit counters and cache invalidation shared by every instance. Needs `@tenantry/redis`. */
  readonly redis?: string | { readonly url: string } | { readonly cluster: readonly (string | { host: string; port: number })[] }
  /** How long a resolved tenant and a verified API key are served from memory. Defaults 30 000 and 10 000 ms. */
  readonly cache?: { readonly tenantTtlMs?: number; readonly apiKeyTtlMs?: number }
  readonly resolution?: ResolutionConfig
  readonly limits?: LimitsConfig
  /** Who catalog changes are attributed to in the audit trail when a call does not say. Default `tenantry`. */
  readonly actor?: string
  /**
   * Record every `runAsSystem` in the catalog's audit log (a `system_scope` row
   * with its reason and actor; the work runs only after the row is written).
   * Default true on PostgreSQL, false on embedded PGlite (one connection: a
   * `runAsSystem` inside a held connection or transaction would wait for the
   * audit write forever). The sink is process-wide: with two Tenantry instances in one
   * process, each records in its own catalog.
   */
  readonly auditSystemScopes?: boolean
  /** Where warnings go (doctor's in `'warn'` mode, Redis errors). Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void
  /**
   * Watchers of tenant traffic: `requests` goes into `tenantry.http` (every
   * adapter given it observes each tenant request), `queries` into
   * `tenantry.db`, `tenantry.pool` and `withClient`. From
   * `@tenantry/observability` (`TenantMetrics`, `TenantTracing`) or your own.
   *
   * @example
   * const metrics = new TenantMetrics()
   * createTenantry({ …, observe: { requests: metrics.observer(), queries: metrics.queryObserver() } })
   */
  readonly observe?: { readonly requests?: RequestObserver; readonly queries?: QueryObserver }
}

const TOP_LEVEL = new Set<string>([
  'database', 'models', 'migrations', 'migrate', 'install', 'doctor', 'statementCache', 'runtimeRole', 'defaultIsolation', 'plans', 'defaultPlan',
  'redis', 'cache', 'resolution', 'limits', 'actor', 'auditSystemScopes', 'onWarning', 'observe',
])
const MODELS = new Set<string>(['shared', 'schema', 'database'])
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

/**
 * True when the config says its URL is a transaction pooler
 * (`database: { url, pooler: 'transaction' }`).
 *
 * @example
 * if (behindTransactionPooler(config)) statementCache = 'off'
 */
export function behindTransactionPooler(config: Pick<TenantryConfig, 'database'>): boolean {
  const database: unknown = config.database
  return isObject(database) && database.pooler === 'transaction'
}

/**
 * The owner's URL for session-bound work (`database.directUrl`), when the
 * config gives one.
 *
 * @example
 * const owner = directUrlOf(config) ?? url
 */
export function directUrlOf(config: Pick<TenantryConfig, 'database'>): string | undefined {
  const database: unknown = config.database
  return isObject(database) && typeof database.directUrl === 'string' ? database.directUrl : undefined
}

/**
 * True when the owner's work would go through a declared transaction pooler:
 * `pooler: 'transaction'` and no `directUrl`. Then nothing that needs a
 * session (migrations, installs, the fleet lock, provisioning's migrations)
 * may run.
 *
 * @example
 * if (ownerBehindTransactionPooler(config)) throw new Error('set database.directUrl')
 */
export function ownerBehindTransactionPooler(config: Pick<TenantryConfig, 'database'>): boolean {
  return behindTransactionPooler(config) && directUrlOf(config) === undefined
}

/** What to do about session-bound work behind a transaction pooler: the advice every refusal gives. */
export const DIRECT_URL_ADVICE = "set database.directUrl to a URL that reaches PostgreSQL directly (or a session-mode pool): migrations, installs and provisioning go there, tenant traffic stays on url; or run it with a config whose URL is PostgreSQL directly (see docs/pgbouncer.md)"

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkDatabase(value: unknown, issues: ValidationIssue[]): void {
  const path = 'config.database'
  if (typeof value === 'string') {
    if (!/^postgres(ql)?:\/\//.test(value)) issues.push({ path, message: "must be a postgres:// URL, { embedded: './folder' | 'memory' }, { url } or { target }" })
    return
  }
  if (!isObject(value)) {
    issues.push({ path, message: "is required: a postgres:// URL, { embedded: './folder' | 'memory' } or { target }" })
    return
  }
  const kinds = ['url', 'embedded', 'target'].filter((k) => value[k] !== undefined)
  if (kinds.length !== 1) issues.push({ path, message: 'must have exactly one of url, embedded, target' })
  if (value.url !== undefined && (typeof value.url !== 'string' || !/^postgres(ql)?:\/\//.test(value.url))) issues.push({ path: `${path}.url`, message: 'must be a postgres:// URL' })
  if (value.embedded !== undefined && (typeof value.embedded !== 'string' || value.embedded.trim() === '')) issues.push({ path: `${path}.embedded`, message: "must be a folder path or 'memory'" })
  if (value.target !== undefined && (!isObject(value.target) || typeof (value.target as { pool?: { query?: unknown } }).pool?.query !== 'function')) {
    issues.push({ path: `${path}.target`, message: 'must be a PostgresTarget (postgresTarget(…) or pgliteTarget(…))' })
  }
  if (value.poolSize !== undefined && (!Number.isSafeInteger(value.poolSize) || (value.poolSize as number) < 1)) issues.push({ path: `${path}.poolSize`, message: 'must be a positive integer' })
  if (value.pooler !== undefined && value.pooler !== 'transaction' && value.pooler !== 'none') issues.push({ path: `${path}.pooler`, message: "must be 'transaction' (a transaction pooler such as PgBouncer) or 'none'" })
  if (value.directUrl !== undefined) {
    if (value.url === undefined) issues.push({ path: `${path}.directUrl`, message: 'goes with url (the pooler\'s URL): { url, pooler: \'transaction\', directUrl }' })
    else if (typeof value.directUrl !== 'string' || !/^postgres(ql)?:\/\//.test(value.directUrl)) issues.push({ path: `${path}.directUrl`, message: 'must be a postgres:// URL that reaches PostgreSQL directly (or a session-mode pool)' })
    else if (value.directUrl === value.url) issues.push({ path: `${path}.directUrl`, message: 'must not be url itself: it is the owner\'s way around the pooler, straight to PostgreSQL (or a session-mode pool)' })
  }
  for (const key of Object.keys(value)) {
    if (!['url', 'poolSize', 'pooler', 'directUrl', 'embedded', 'target', 'router', 'provisioner'].includes(key)) issues.push({ path: `${path}.${key}`, message: 'is not an option here' })
  }
}

function checkModels(value: unknown, issues: ValidationIssue[]): void {
  if (!isObject(value) || !Object.keys(value).some((k) => MODELS.has(k) && value[k] !== undefined && value[k] !== false)) {
    issues.push({ path: 'config.models', message: "must name at least one isolation model: { shared: { tables: [...] } }, { schema: true } or { database: true }" })
    return
  }
  for (const key of Object.keys(value)) {
    if (!MODELS.has(key)) issues.push({ path: `config.models.${key}`, message: 'is not an isolation model (shared, schema, database)' })
  }
  if (value.shared !== undefined && !isObject(value.shared)) issues.push({ path: 'config.models.shared', message: "must be { tables: ['projects', …] }" })
  for (const key of ['schema', 'database'] as const) {
    const model = value[key]
    if (model !== undefined && model !== true && !isObject(model)) issues.push({ path: `config.models.${key}`, message: 'must be true or an options object' })
  }
}

function checkMigrationSource(value: unknown, path: string, issues: ValidationIssue[]): void {
  if (value === undefined || typeof value === 'string' || value instanceof URL || Array.isArray(value)) return
  issues.push({ path, message: 'must be a folder (path or file: URL) or an array of migrations { id, up, down? }' })
}

/**
 * Checks a config's shape before anything is opened: every problem at once,
 * as VALIDATION_FAILED with `config.…` paths. The models' own options are
 * checked again, in detail, by the models.
 */
export function checkConfig(config: unknown): asserts config is TenantryConfig {
  const issues: ValidationIssue[] = []
  if (!isObject(config)) {
    throw new TenantryError('VALIDATION_FAILED', "createTenantry needs a config object: { database, models }", { details: [{ path: 'config', message: 'must be an object' }] })
  }
  for (const key of Object.keys(config)) {
    if (!TOP_LEVEL.has(key)) issues.push({ path: `config.${key}`, message: `is not an option (options: ${[...TOP_LEVEL].join(', ')})` })
  }
  checkDatabase(config.database, issues)
  checkModels(config.models, issues)
  if (config.observe !== undefined) {
    if (!isObject(config.observe)) issues.push({ path: 'config.observe', message: 'must be { requests?, queries? }' })
    else {
      for (const key of Object.keys(config.observe)) {
        if (key !== 'requests' && key !== 'queries') issues.push({ path: `config.observe.${key}`, message: 'is not an option (options: requests, queries)' })
        else if (!isObject(config.observe[key]) || typeof (config.observe[key] as { start?: unknown }).start !== 'function') issues.push({ path: `config.observe.${key}`, message: `must be a ${key === 'requests' ? 'RequestObserver' : 'QueryObserver'} (a start() method)` })
      }
    }
  }
  if (config.migrations !== undefined) {
    if (!isObject(config.migrations)) issues.push({ path: 'config.migrations', message: "must be { tenant?, control? }" })
    else {
      for (const key of Object.keys(config.migrations)) if (key !== 'tenant' && key !== 'control') issues.push({ path: `config.migrations.${key}`, message: 'is not a migration set (tenant, control)' })
      checkMigrationSource(config.migrations.tenant, 'config.migrations.tenant', issues)
      checkMigrationSource(config.migrations.control, 'config.migrations.control', issues)
    }
  }
  for (const key of ['migrate', 'install', 'auditSystemScopes'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean') issues.push({ path: `config.${key}`, message: 'must be true or false' })
  }
  if (config.doctor !== undefined && !['refuse', 'warn', 'off'].includes(config.doctor as string)) issues.push({ path: 'config.doctor', message: "must be 'refuse', 'warn' or 'off'" })
  const cache = config.statementCache
  if (cache !== undefined && cache !== 'off' && (typeof cache !== 'number' || !Number.isSafeInteger(cache) || cache < 0)) {
    issues.push({ path: 'config.statementCache', message: "must be a whole number of statements per connection (0 or more) or 'off'" })
  }
  const pooler = behindTransactionPooler(config as Pick<TenantryConfig, 'database'>)
  if (ownerBehindTransactionPooler(config as Pick<TenantryConfig, 'database'>)) {
    // The fleet lock and the walls' installs hold a session advisory lock: through a transaction pooler the session is not theirs.
    for (const key of ['migrate', 'install'] as const) {
      if (config[key] !== false) issues.push({ path: `config.${key}`, message: `must be false behind a transaction pooler (database.pooler: 'transaction') without database.directUrl: migrations and installs need a session; ${DIRECT_URL_ADVICE}` })
    }
  }
  if (pooler && typeof cache === 'number' && cache > 0) {
    issues.push({ path: 'config.statementCache', message: "cannot be on behind a transaction pooler (database.pooler: 'transaction'): it gives each transaction another server connection, where the cached statements do not exist; leave statementCache out or set it to 'off'" })
  }
  if (config.runtimeRole !== undefined && (typeof config.runtimeRole !== 'string' || !IDENTIFIER.test(config.runtimeRole))) {
    issues.push({ path: 'config.runtimeRole', message: 'must be a plain role name (letters, digits, _)' })
  }
  if (config.defaultIsolation !== undefined && !MODELS.has(config.defaultIsolation as string)) issues.push({ path: 'config.defaultIsolation', message: 'must be shared, schema or database' })
  if (config.plans !== undefined && !(config.plans instanceof PlanRegistry) && !isObject(config.plans)) {
    issues.push({ path: 'config.plans', message: 'must be { [plan]: { rateLimit?, concurrency?, settings? } } or a PlanRegistry' })
  }
  if (config.redis !== undefined) {
    const redis = config.redis
    const ok = (typeof redis === 'string' && /^rediss?:\/\//.test(redis)) || (isObject(redis) && (typeof redis.url === 'string' || Array.isArray(redis.cluster)))
    if (!ok) issues.push({ path: 'config.redis', message: "must be a redis:// URL, { url } or { cluster: ['host:port', …] }" })
  }
  if (config.onWarning !== undefined && typeof config.onWarning !== 'function') issues.push({ path: 'config.onWarning', message: 'must be a function (message) => void' })
  if (config.resolution !== undefined) {
    const r = config.resolution
    if (!isObject(r)) issues.push({ path: 'config.resolution', message: 'must be an object' })
    else {
      const known = ['baseDomains', 'header', 'pathPrefix', 'resolvers', 'authenticate']
      for (const key of Object.keys(r)) if (!known.includes(key)) issues.push({ path: `config.resolution.${key}`, message: `is not an option (options: ${known.join(', ')})` })
      const auth = r.authenticate
      if (auth !== undefined && typeof auth !== 'function' && !['api-key', 'api-key-names-tenant', 'none'].includes(auth as string)) {
        issues.push({ path: 'config.resolution.authenticate', message: "must be 'api-key', 'api-key-names-tenant', 'none' or a function" })
      }
    }
  }
  if (issues.length > 0) {
    throw new TenantryError('VALIDATION_FAILED', `Invalid Tenantry config: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: issues })
  }
}
