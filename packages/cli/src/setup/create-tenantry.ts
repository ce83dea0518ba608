import { fileURLToPath } from 'node:url'
import {
  PlanRegistry, TenantryError, onSystemScope, type CachedApiKeyVerifier, type CachedTenantDirectory, type IsolationModelName, type TenantAdmission, type TenantHttpOptions,
} from '@tenantry/core'
import {
  FleetMigrator, TenantCatalog, TenantData, TenantLifecycle, detectTransactionPooler, loadMigrations, migrationSet, transactionPoolerFinding,
  type DoctorFinding, type IsolationModel, type Migration, type MigrationRunSummary, type PoolRouter, type PostgresTarget, type TenantPool, type TenantRecord,
} from '@tenantry/postgres'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { behindTransactionPooler, checkConfig, directUrlOf, ownerBehindTransactionPooler, type MigrationSource, type TenantryConfig } from './config.ts'
import { buildModels, closeModels, type BuiltModels } from './models.ts'
import { buildAccess, httpOptions } from './resolution.ts'
import { startSharedState } from './shared-state.ts'
import { openStorage } from './storage.ts'

/** A doctor finding and the model it is about. */
export interface ModelFinding extends DoctorFinding {
  /** The model the finding is about, or `'connection'` for the database URL itself (a transaction pooler). */
  readonly model: IsolationModelName | 'connection'
}

/** What `tenantry.doctor()` found across every model: `ok` unless some finding is an error. */
export interface TenantryDoctorReport {
  readonly ok: boolean
  readonly findings: readonly ModelFinding[]
}

/**
 * A running Tenantry: the scoped database, the tenants' life, the migrator,
 * and what the HTTP adapters need. Made by `createTenantry`.
 */
export interface Tenantry<DB = any> {
  /** One Kysely instance for every tenant, whatever its model: each query goes where the tenant in context lives, walled in. */
  readonly db: Kysely<DB>
  /**
   * A `pg.Pool` for the scope in force, wherever the tenant lives: plain
   * node-postgres, and ORMs built on it (Drizzle, Prisma's adapter-pg). Only the
   * database walls guard its SQL (RLS, search_path and role, the router).
   *
   * @example
   * await runWithTenant(acme, () => tenantry.pool.query('select * from projects'))
   */
  readonly pool: TenantPool
  /** Create, suspend, resume, offboard tenants; their API keys and domains. */
  readonly tenants: TenantLifecycle
  /** The control plane's tenant records and audit trail. */
  readonly catalog: TenantCatalog
  /** Fleet migrations: `migrate()`, `down()`, `status()`. */
  readonly migrator: FleetMigrator
  /** The isolation models in use, behind one API. */
  readonly data: TenantData
  /** Each model in use, by name, for what is particular to it (`models.shared.tenantTables`, a model's own doctor). */
  readonly models: BuiltModels
  /** The control database. */
  readonly target: PostgresTarget
  /** The tenant databases' router (database model only). */
  readonly router: PoolRouter | undefined
  /** The plans tenants may be on, when the config names them. */
  readonly plans: PlanRegistry | undefined
  /**
   * What the HTTP adapters take: resolution, authentication, admission.
   *
   * @example
   * await app.register(tenantryFastify, { ...tenantry.http, exclude: ['/healthz'] })
   */
  readonly http: TenantHttpOptions<TenantRecord>
  /** The cached tenant lookups behind `http.resolution`; kept current on every catalog change. */
  readonly directory: CachedTenantDirectory<TenantRecord>
  readonly apiKeys: CachedApiKeyVerifier
  /** Rate limits and bulkheads, when plans or `limits` ask for them. */
  readonly admission: TenantAdmission | undefined
  /** The migration run of this start, when `migrate` was on. */
  readonly migration: MigrationRunSummary | undefined
  /** Where the data is (no passwords), for a start banner. */
  readonly describe: string
  /** Runs doctor on every model: roles, walls, policies, reachable objects. */
  doctor(): Promise<TenantryDoctorReport>
  /** Stops everything this Tenantry opened: caches, Redis, pools, embedded databases. Idempotent. */
  close(): Promise<void>
}

async function migrationsOf(source: MigrationSource | undefined): Promise<readonly Migration[]> {
  if (source === undefined) return []
  if (typeof source === 'string') return loadMigrations(source)
  if (source instanceof URL) return loadMigrations(fileURLToPath(source))
  return migrationSet(source)
}

function modelList(models: BuiltModels): IsolationModel[] {
  return [models.shared, models.schema, models.database].filter((m): m is NonNullable<typeof m> => m !== undefined)
}

/**
 * The connection checks (PostgreSQL only): a transaction pooler the config
 * does not declare; with a `directUrl`, that it keeps a session (the owner's
 * target is on it), and, when `url` is not declared a pooler, `url` too.
 */
async function connectionFindings(config: TenantryConfig, target: PostgresTarget): Promise<ModelFinding[]> {
  if (target.backend !== 'postgres') return []
  const direct = directUrlOf(config)
  if (direct === undefined) {
    const finding = transactionPoolerFinding(await detectTransactionPooler(target.pool), behindTransactionPooler(config))
    return finding === undefined ? [] : [{ model: 'connection', ...finding }]
  }
  const findings: ModelFinding[] = []
  if (await detectTransactionPooler(target.pool)) {
    findings.push({
      model: 'connection',
      severity: 'error',
      check: 'connection.transaction_pooler',
      message: 'database.directUrl goes through a transaction pooler (PgBouncer in transaction mode): migrations, installs and the fleet lock would run without a session of their own.',
      fix: 'Point directUrl at PostgreSQL itself (or at a pool in session mode); url is the one for the pooler.',
    })
  }
  if (!behindTransactionPooler(config)) {
    // url carries only tenant traffic here: probe it with the owner's login, on a pool of its own.
    const url = (config.database as { url: string }).url
    const probe = new pg.Pool({ connectionString: url, max: 2 })
    probe.on('error', () => undefined)
    try {
      const finding = transactionPoolerFinding(await detectTransactionPooler(probe), false)
      if (finding !== undefined) findings.push({ model: 'connection', ...finding })
    } finally {
      await probe.end().catch(() => undefined)
    }
  }
  return findings
}

async function doctorOf(models: BuiltModels, connection: () => Promise<ModelFinding[]>): Promise<TenantryDoctorReport> {
  const findings: ModelFinding[] = [...(await connection())]
  for (const model of modelList(models)) {
    const report = await model.doctor()
    for (const finding of report.findings) findings.push({ model: model.model, ...finding })
  }
  return { ok: !findings.some((f) => f.severity === 'error'), findings }
}

function refuse(report: TenantryDoctorReport): TenantryError {
  const errors = report.findings.filter((f) => f.severity === 'error')
  return new TenantryError(
    'ISOLATION_MISCONFIGURED',
    `Tenantry doctor refused this database (${errors.length} problem${errors.length === 1 ? '' : 's'}): ${errors.map((e) => `[${e.model}] ${e.message}`).join(' ')} Run \`tenantry doctor\` for the fixes.`,
    { details: errors },
  )
}

const defaultWarning = (message: string): void => process.emitWarning(message, { code: 'TENANTRY' })

/**
 * Sets Tenantry up from one config, in the right order: opens the databases
 * (PostgreSQL, or embedded PGlite with no server; behind PgBouncer, the
 * owner's work on `database.directUrl` and tenant traffic through
 * `database.url`), installs the catalog, runs
 * the fleet's migrations (waiting for another instance's run), installs each
 * model's walls (runtime role, scope guard, RLS policies, grants), runs doctor
 * and refuses an unsafe setup with ISOLATION_MISCONFIGURED, then starts the
 * resolution caches (kept current on every change, across instances with
 * Redis) and the per-plan limits. Every problem in the config is reported at
 * once, before anything is opened (VALIDATION_FAILED).
 *
 * @example
 * import { createTenantry, runWithTenant } from 'tenantry'
 * const tenantry = await createTenantry<Database>({
 *   database: process.env.DATABASE_URL ?? { embedded: './.tenantry' },
 *   models: { shared: { tables: ['projects'] }, schema: true },
 *   migrations: { tenant: './migrations/tenant' },
 * })
 * const acme = await tenantry.tenants.create({ slug: 'acme', name: 'Acme' })
 * await runWithTenant(acme, () => tenantry.db.selectFrom('projects').selectAll().execute())
 * await tenantry.close()
 *
 * @example
 * // Behind PgBouncer in transaction mode: tenant traffic through it, the owner's work around it.
 * const tenantry = await createTenantry({
 *   database: { url: process.env.DATABASE_URL!, pooler: 'transaction', directUrl: process.env.DIRECT_URL! },
 *   models: { shared: { tables: ['projects'] } },
 * })
 */
export async function createTenantry<DB = any>(config: TenantryConfig): Promise<Tenantry<DB>> {
  checkConfig(config)
  const warn = config.onWarning ?? defaultWarning
  const plans = config.plans === undefined
    ? undefined
    : config.plans instanceof PlanRegistry
      ? config.plans
      : new PlanRegistry(config.plans, config.defaultPlan === undefined ? {} : { defaultPlan: config.defaultPlan })
  const [tenantMigrations, controlMigrations] = await Promise.all([migrationsOf(config.migrations?.tenant), migrationsOf(config.migrations?.control)])
  const storage = await openStorage(config)
  const closers: (() => Promise<void>)[] = [() => storage.close()]
  const closeAll = async (): Promise<void> => {
    for (const close of [...closers].reverse()) await close().catch(() => undefined)
  }
  try {
    const models = buildModels(config, storage)
    closers.push(() => closeModels(models))
    const catalog = new TenantCatalog({ target: storage.target, defaultActor: config.actor ?? 'tenantry' })
    const migrator = new FleetMigrator({
      control: storage.target,
      // The owner's target is the pooler when no directUrl takes it: every run refuses (it needs a session).
      ...(ownerBehindTransactionPooler(config) ? { pooler: 'transaction' as const } : {}),
      tenantMigrations,
      controlMigrations,
      ...(models.shared === undefined ? {} : { shared: models.shared }),
      ...(models.schema === undefined ? {} : { schema: models.schema }),
      ...(models.database === undefined ? {} : { database: models.database }),
    })
    const doctorMode = config.doctor ?? 'refuse'
    const connection = (): Promise<ModelFinding[]> => connectionFindings(config, storage.target)
    // Before anything is installed or migrated: through an undeclared transaction pooler the fleet lock would not hold.
    if (doctorMode !== 'off') {
      const found = await connection()
      if (found.length > 0 && doctorMode === 'refuse') throw refuse({ ok: false, findings: found })
      for (const finding of found) warn(`Tenantry doctor [${finding.model}] ${finding.check}: ${finding.message}`)
    }
    let migration: MigrationRunSummary | undefined
    if (config.install !== false) await catalog.install()
    if (config.migrate !== false) {
      migration = await migrator.migrate({ waitForLockMs: 120_000, continueOnError: true })
      if (!migration.ok) {
        const failures = migration.failed.map((f) => `${f.target.label}: ${f.error?.message ?? 'unknown error'}`)
        throw new TenantryError('MIGRATION_FAILED', `Migrations failed at start: ${failures.join('; ')}. \`tenantry migrate status\` lists them.`, { details: failures })
      }
    }
    if (config.install !== false) for (const model of modelList(models)) await model.install()
    if (doctorMode !== 'off') {
      const report = await doctorOf(models, async () => [])
      if (!report.ok && doctorMode === 'refuse') throw refuse(report)
      for (const finding of report.findings) if (finding.severity === 'error') warn(`Tenantry doctor [${finding.model}] ${finding.check}: ${finding.message}`)
    }
    const data = new TenantData(models, config.observe?.queries === undefined ? {} : { queryObserver: config.observe.queries })
    const tenants = new TenantLifecycle({
      catalog,
      data,
      migrator,
      ...(plans === undefined ? {} : { plans }),
      ...(config.defaultIsolation === undefined ? {} : { defaultIsolation: config.defaultIsolation }),
    })
    // Embedded PGlite has one connection: an audit write from inside a held connection or
    // transaction would wait for itself, so there the sink is opt-in.
    if (config.auditSystemScopes ?? storage.target.backend !== 'pglite') {
      const off = onSystemScope(catalog.auditListener())
      closers.push(async () => off())
    }
    const access = buildAccess(config, catalog)
    const shared = await startSharedState(config, catalog, access, plans, warn)
    closers.push(() => shared.close())
    let closing: Promise<void> | undefined
    return {
      db: data.kysely<DB>({ statementCache: statementCacheOf(config) }),
      pool: data.pool(),
      tenants,
      catalog,
      migrator,
      data,
      models,
      target: storage.target,
      router: storage.router,
      plans,
      http: config.observe?.requests === undefined ? httpOptions(access, shared.admission) : { ...httpOptions(access, shared.admission), observer: config.observe.requests },
      directory: access.directory,
      apiKeys: access.apiKeys,
      admission: shared.admission,
      migration,
      describe: storage.describe,
      doctor: () => doctorOf(models, connection),
      close() {
        closing ??= closeAll()
        return closing
      },
    }
  } catch (error) {
    await closeAll()
    throw error
  }
}

/** The statement cache the config asks for: off behind a transaction pooler, else as given (default on). */
function statementCacheOf(config: TenantryConfig): number | 'off' | undefined {
  if (behindTransactionPooler(config)) return 'off'
  return config.statementCache
}
