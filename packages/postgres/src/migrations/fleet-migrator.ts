import { performance } from 'node:perf_hooks'
import { TenantryError, type IsolationModelName, type Tenant } from '@tenantry/core'
import type { PostgresTarget } from '../driver/target.ts'
import type { DatabasePerTenantIsolation } from '../isolation/database/database-per-tenant.ts'
import type { SchemaPerTenantIsolation } from '../isolation/schema/schema-per-tenant.ts'
import type { SharedSchemaIsolation } from '../isolation/shared/shared-schema.ts'
import { migrateTarget, rollbackTarget, type TargetOutcome } from './apply.ts'
import { acquireFleetLock } from './fleet-lock.ts'
import {
  CONTROL_TARGET, SHARED_TARGET, checksumConflicts, countsByMigration, failures, forgetTarget,
  migratedTenants, readApplied, readHead, tenantsNotAt,
} from './ledger.ts'
import { digestOf, type Migration, type MigrationSetName } from './migration.ts'
import { runPool } from './run-pool.ts'
import { requireSession, type ControlPooler } from './session.ts'
import { controlTarget, type MigrationTarget } from './targets.ts'

export interface FleetMigratorOptions {
  /** The control-plane database (where the catalog is). Shared and schema-model tables must be in it too. */
  readonly control: PostgresTarget
  /** Migrations of the control plane: run once per fleet. */
  readonly controlMigrations?: readonly Migration[]
  /** Migrations of the tenant set: run once for the shared tables and once per tenant schema or database. */
  readonly tenantMigrations: readonly Migration[]
  readonly shared?: SharedSchemaIsolation
  readonly schema?: SchemaPerTenantIsolation
  readonly database?: DatabasePerTenantIsolation
  /**
   * When the shared tables migrate, install their walls (RLS, policies, grants,
   * as `shared.install()` does) in the same transaction, so no table commits
   * without them. Default true.
   */
  readonly installSharedWalls?: boolean
  /**
   * How `control` (and the owner's connections to tenant schemas and
   * databases) reach PostgreSQL. Runs need a session (the fleet lock, steps
   * outside a transaction, the database model's install): with
   * `'transaction'` (a transaction pooler) `migrate`, `down` and
   * `migrateTenant` of a schema or database tenant refuse with
   * ISOLATION_MISCONFIGURED before they touch anything. Left out, the control
   * pool is probed for a transaction pooler once, and refused the same way
   * when one is found; `'none'` skips the probe.
   *
   * @example
   * new FleetMigrator({ control: postgresTarget(process.env.DIRECT_URL!), pooler: 'none', tenantMigrations, shared })
   */
  readonly pooler?: ControlPooler
}

/** Which targets a run covers. */
export type MigrationScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'shared' }
  | { readonly kind: 'tenant'; readonly slug: string }

export interface MigrateOptions {
  /** Default: everything (control plane, shared tables, every tenant). */
  readonly scope?: MigrationScope
  /** Tenants migrated at once. Default: from the connection budget (PGlite: 1). */
  readonly concurrency?: number
  /** Migrate this many tenants first and stop if any of them fails. */
  readonly canary?: number
  /** Go on after a tenant fails and report every failure at the end (default: stop starting new tenants). */
  readonly continueOnError?: boolean
  /** Wait this long for another runner's lock; default 0 (MIGRATION_LOCKED at once). */
  readonly waitForLockMs?: number
  /** Progress events, for a bar or a log. */
  readonly onEvent?: (event: MigrationEvent) => void
  /** Stop starting new targets when aborted; running ones finish. */
  readonly signal?: AbortSignal
}

export type MigrationEvent =
  | { readonly type: 'waiting-for-lock'; readonly holder: string }
  | { readonly type: 'plan'; readonly phase: 'control' | 'shared' | 'canary' | 'tenants'; readonly targets: number }
  | { readonly type: 'target-done'; readonly outcome: TargetOutcome }

/** What a run did. */
export interface MigrationRunSummary {
  /** Targets visited (those found behind); a fleet with nothing to do visits none. */
  readonly visited: number
  readonly migrated: number
  readonly current: number
  readonly failed: readonly TargetOutcome[]
  /** Targets not started because the run stopped (failure, canary, abort). */
  readonly skipped: number
  readonly durationMs: number
  readonly ok: boolean
}

export interface DownOptions {
  /** The last migration to keep; null rolls everything back. */
  readonly to: string | null
  /** Stop starting new targets when aborted; running ones finish. */
  readonly signal?: AbortSignal
  readonly scope?: MigrationScope
  readonly concurrency?: number
  readonly continueOnError?: boolean
  readonly waitForLockMs?: number
  readonly onEvent?: (event: MigrationEvent) => void
}

/** One row of `tenantry migrate status`. */
export interface MigrationStatusRow {
  readonly id: string
  readonly applied: number
  readonly pending: number
  readonly failed: number
}

export interface MigrationStatus {
  readonly control: readonly MigrationStatusRow[]
  /** Targets of the tenant set: the shared tables (when configured) plus every schema and database tenant. */
  readonly targets: number
  readonly tenant: readonly MigrationStatusRow[]
  readonly failures: readonly { readonly target: string; readonly label: string; readonly migration: string; readonly error: string; readonly at: Date }[]
}

/** One tenant migration as one tenant's target has it. */
export interface TenantMigrationState {
  readonly id: string
  readonly state: 'applied' | 'pending' | 'failed'
  /** The failure recorded for it, when failed. */
  readonly error?: string
  readonly at?: Date
}

/** Where a tenant's schema stands: its target (its own, or the shared tables) and each tenant migration. */
export interface TenantMigrationStatus {
  /** `shared` for a tenant of the shared model (the shared tables are its schema), else the tenant's id. */
  readonly target: string
  readonly migrations: readonly TenantMigrationState[]
}

/**
 * Runs the control-plane and tenant migration sets over a whole fleet: the
 * shared tables once, every tenant schema and database in parallel, resumable
 * after a crash (each target's ledger commits with its DDL), one runner at a
 * time (an advisory lock), with per-target status in the control plane.
 *
 * @example
 * const migrator = new FleetMigrator({ control, tenantMigrations: await loadMigrations('migrations/tenant'), shared, schema, database })
 * const summary = await migrator.migrate({ canary: 5, concurrency: 8 })
 * if (!summary.ok) console.error(summary.failed.map((f) => f.error?.message))
 */
export class FleetMigrator {
  readonly #options: FleetMigratorOptions
  readonly #control: readonly Migration[]
  readonly #tenant: readonly Migration[]
  readonly #digest: string
  #topologyChecked: Promise<void> | undefined

  constructor(options: FleetMigratorOptions) {
    if (!options?.control?.pool || !Array.isArray(options.tenantMigrations)) {
      throw new TenantryError('VALIDATION_FAILED', 'FleetMigrator needs { control, tenantMigrations } (see loadMigrations)')
    }
    this.#options = options
    this.#control = options.controlMigrations ?? []
    this.#tenant = options.tenantMigrations
    this.#digest = digestOf(this.#tenant)
  }

  /** The id of the newest tenant migration (what new tenants are provisioned at). */
  get latest(): string | undefined {
    return this.#tenant.at(-1)?.id
  }

  /**
   * Brings the fleet to the code's migrations. A fleet with nothing to do costs
   * the lock, a head read or two and one index probe of the tenants table,
   * whatever the number of tenants.
   */
  migrate(options: MigrateOptions = {}): Promise<MigrationRunSummary> {
    const started = performance.now()
    const scope = options.scope ?? { kind: 'all' }
    const tally = new Tally()
    return this.#locked(options, async () => {
      const pool = this.#options.control.pool
      if (scope.kind === 'all' && this.#control.length) {
        if ((await readHead(pool, 'control', CONTROL_TARGET)) !== digestOf(this.#control)) {
          await this.#guardChecksums('control', this.#control)
          emit(options.onEvent, { type: 'plan', phase: 'control', targets: 1 })
          const outcome = await migrateTarget(controlTarget(this.#options.control), this.#control, pool)
          tally.add(outcome, options)
          if (outcome.status === 'failed') return tally.summary(started, 0)
        }
      }
      const tenantScoped = scope.kind === 'tenant' ? await this.#tenantScope(scope.slug) : undefined
      const migrateShared = this.#options.shared !== undefined && (scope.kind !== 'tenant' || tenantScoped === 'shared')
      const tenants = scope.kind === 'shared' || tenantScoped === 'shared'
        ? []
        : await tenantsNotAt(pool, this.#digest, scope.kind === 'tenant' ? { slug: scope.slug } : undefined)
      const sharedBehind = migrateShared && (await readHead(pool, 'tenant', SHARED_TARGET)) !== this.#digest
      if (tenants.length || sharedBehind) await this.#guardChecksums('tenant', this.#tenant)
      if (sharedBehind) {
        emit(options.onEvent, { type: 'plan', phase: 'shared', targets: 1 })
        const outcome = await this.#migrateShared()
        tally.add(outcome, options)
        if (outcome.status === 'failed' && !options.continueOnError) return tally.summary(started, tenants.length)
      }
      const targets = tenants.flatMap((t) => this.#tenantTarget(t) ?? [])
      const canary = Math.max(0, Math.min(options.canary ?? 0, targets.length))
      const concurrency = this.#concurrency(options.concurrency)
      if (canary > 0) {
        emit(options.onEvent, { type: 'plan', phase: 'canary', targets: canary })
        const first = await runPool(targets.slice(0, canary), concurrency, (t) => this.#migrateTenant(t), {
          stop: () => tally.failures > 0 || options.signal?.aborted === true,
          onDone: (o) => tally.add(o, options),
        })
        if (tally.failures > 0 || first.skipped > 0) return tally.summary(started, targets.length - canary + first.skipped)
      }
      const rest = targets.slice(canary)
      emit(options.onEvent, { type: 'plan', phase: 'tenants', targets: rest.length })
      const run = await runPool(rest, concurrency, (t) => this.#migrateTenant(t), {
        stop: () => (tally.failures > 0 && !options.continueOnError) || options.signal?.aborted === true,
        onDone: (o) => tally.add(o, options),
      })
      return tally.summary(started, run.skipped)
    })
  }

  /** Rolls targets back so that `to` is their newest applied migration. */
  async down(options: DownOptions): Promise<MigrationRunSummary> {
    const started = performance.now()
    if (options.to !== null && !this.#tenant.some((m) => m.id === options.to)) {
      throw new TenantryError('VALIDATION_FAILED', `No tenant migration has the id "${options.to}"; pass one of: ${this.#tenant.map((m) => m.id).join(', ')}`)
    }
    const scope = options.scope ?? { kind: 'all' }
    const tally = new Tally()
    return this.#locked(options, async () => {
      const pool = this.#options.control.pool
      const tenantScoped = scope.kind === 'tenant' ? await this.#tenantScope(scope.slug) : undefined
      if (tenantScoped === 'shared') {
        // Rolling back the shared tables undoes them for every shared tenant: say so explicitly.
        throw new TenantryError('VALIDATION_FAILED', `Tenant "${(scope as { slug: string }).slug}" is in the shared model: its tables are every shared tenant's; roll them back with the shared scope (--shared) if that is what you mean`)
      }
      const targets: MigrationTarget[] = []
      if (this.#options.shared && scope.kind !== 'tenant') targets.push(this.#options.shared.sharedTablesTarget())
      if (scope.kind !== 'shared') {
        const tenants = await migratedTenants(pool, scope.kind === 'tenant' ? { slug: scope.slug } : undefined)
        targets.push(...tenants.flatMap((t) => this.#tenantTarget(t) ?? []))
      }
      emit(options.onEvent, { type: 'plan', phase: 'tenants', targets: targets.length })
      const run = await runPool(targets, this.#concurrency(options.concurrency), (t) => rollbackTarget(t, this.#tenant, options.to, pool), {
        stop: () => (tally.failures > 0 && !options.continueOnError) || options.signal?.aborted === true,
        onDone: (o) => tally.add(o, options),
      })
      return tally.summary(started, run.skipped)
    })
  }

  /** Applied / pending / failed counts per migration, and the failed targets with their errors. */
  async status(): Promise<MigrationStatus> {
    const pool = this.#options.control.pool
    const tenants = await migratedTenants(pool)
    const labels = new Map<string, string>(tenants.map((t) => [t.id, `${t.slug} (${t.isolation})`]))
    if (this.#options.shared) labels.set(SHARED_TARGET, 'shared tables')
    const keys = [...labels.keys()]
    const rows = (set: MigrationSetName, migrations: readonly Migration[], counts: Awaited<ReturnType<typeof countsByMigration>>, total: number): MigrationStatusRow[] => {
      const byId = new Map(counts.map((c) => [c.id, c]))
      const ids = [...new Set([...migrations.map((m) => m.id), ...counts.map((c) => c.id)])].sort()
      return ids.map((id) => {
        const c = byId.get(id)
        const applied = c?.applied ?? 0
        const failed = c?.failed ?? 0
        return { id, applied, failed, pending: Math.max(0, total - applied - failed) }
      })
    }
    const [controlCounts, tenantCounts, controlFailed, tenantFailed] = await Promise.all([
      countsByMigration(pool, 'control', [CONTROL_TARGET]),
      countsByMigration(pool, 'tenant', keys),
      failures(pool, 'control', [CONTROL_TARGET]),
      failures(pool, 'tenant', keys),
    ])
    labels.set(CONTROL_TARGET, 'control plane')
    const failed = [...controlFailed, ...tenantFailed]
    return {
      control: rows('control', this.#control, controlCounts, 1),
      targets: keys.length,
      tenant: rows('tenant', this.#tenant, tenantCounts, keys.length),
      failures: failed.map((f) => ({ target: f.target, label: labels.get(f.target) ?? f.target, migration: f.id, error: f.error, at: f.at })),
    }
  }

  /**
   * Where one tenant's schema stands: each tenant migration applied, pending
   * or failed (with the recorded error) on its target: its own schema or
   * database, or for a shared tenant the shared tables. Read from the ledger
   * in the control plane; nothing is connected to the tenant.
   *
   * @example
   * const { migrations } = await migrator.tenantStatus(tenant)
   * const pending = migrations.filter((m) => m.state === 'pending').length
   */
  async tenantStatus(tenant: Pick<Tenant, 'id' | 'isolation'>): Promise<TenantMigrationStatus> {
    const target = tenant.isolation === 'shared' ? SHARED_TARGET : tenant.id
    const pool = this.#options.control.pool
    const [applied, failed] = await Promise.all([readApplied(pool, 'tenant', target), failures(pool, 'tenant', [target])])
    const done = new Set(applied.map((a) => a.id))
    const failedById = new Map(failed.map((f) => [f.id, f]))
    const ids = [...new Set([...this.#tenant.map((m) => m.id), ...done])].sort()
    return {
      target,
      migrations: ids.map((id): TenantMigrationState => {
        if (done.has(id)) return { id, state: 'applied' }
        const failure = failedById.get(id)
        return failure === undefined ? { id, state: 'pending' } : { id, state: 'failed', error: failure.error, at: failure.at }
      }),
    }
  }

  /**
   * Applies every pending tenant migration to one tenant's own schema or
   * database (a new tenant, right after its model provisioned it): what
   * `TenantLifecycle` calls. A shared tenant has no target of its own: its
   * outcome is `current`.
   *
   * @example
   * const outcome = await migrator.migrateTenant({ ...tenant, placement })
   * if (outcome.status === 'failed') throw outcome.error
   */
  async migrateTenant(tenant: Tenant): Promise<TargetOutcome> {
    const target = this.#tenantTarget(tenant)
    if (target === undefined) {
      // A shared tenant has nothing of its own to migrate; through a transaction pooler the
      // topology check's installs (a session lock) cannot run, and this tenant needs none of it.
      if (this.#options.pooler !== 'transaction') await this.#checkTopology()
      return { target: (this.#options.shared as SharedSchemaIsolation).sharedTablesTarget(), status: 'current', done: [], durationMs: 0 }
    }
    await requireSession(this.#options.control, `Migrating tenant "${tenant.slug}" (${tenant.isolation})`, this.#options.pooler)
    await this.#checkTopology()
    return this.#migrateTenant(target)
  }

  /** Forgets a tenant's migration ledger (its schema or database is gone). Idempotent. */
  async forget(tenant: Pick<Tenant, 'id'>): Promise<void> {
    await forgetTarget(this.#options.control.pool, 'tenant', tenant.id)
  }

  #migrateShared(): Promise<TargetOutcome> {
    const shared = this.#options.shared as SharedSchemaIsolation
    return migrateTarget(shared.sharedTablesTarget(this.#options.installSharedWalls !== false), this.#tenant, this.#options.control.pool)
  }

  #migrateTenant(target: MigrationTarget): Promise<TargetOutcome> {
    return migrateTarget(target, this.#tenant, this.#options.control.pool)
  }

  /** The tenant's own migration target; undefined for a shared tenant. */
  #tenantTarget(tenant: Tenant): MigrationTarget | undefined {
    const model = tenant.isolation === 'shared' ? this.#options.shared : tenant.isolation === 'schema' ? this.#options.schema : this.#options.database
    if (model !== undefined) return model.migrationTarget(tenant)
    const error = this.#unconfigured(tenant)
    return {
      set: 'tenant', key: tenant.id, model: tenant.isolation, tenant, ledger: 'control', label: `tenant ${tenant.slug} (${tenant.isolation})`,
      connect: () => Promise.reject(error),
    }
  }

  #unconfigured(tenant: Tenant): TenantryError {
    return new TenantryError('ISOLATION_MISCONFIGURED', `Tenant "${tenant.slug}" is placed in the ${tenant.isolation} model, which this migrator was not given; pass it to FleetMigrator`)
  }

  /** 'shared' when the slug names a shared-model tenant (its tables are the shared ones). */
  async #tenantScope(slug: string): Promise<'shared' | 'own'> {
    const result = await this.#options.control.pool.query<{ isolation: IsolationModelName }>(
      'select isolation from tenantry.tenants where slug = $1 and deleted_at is null', [slug],
    )
    const row = result.rows[0]
    if (row === undefined) throw new TenantryError('TENANT_NOT_FOUND', `No tenant with slug "${slug}" (deleted tenants are not found)`)
    return row.isolation === 'shared' ? 'shared' : 'own'
  }

  async #guardChecksums(set: MigrationSetName, migrations: readonly Migration[]): Promise<void> {
    const conflicts = await checksumConflicts(this.#options.control.pool, set, migrations)
    if (conflicts.length) {
      throw new TenantryError('MIGRATION_CHECKSUM_MISMATCH', `Applied ${set} migrations changed since they ran: ${conflicts.map((c) => `${c.id} (${c.targets} target${c.targets === 1 ? '' : 's'})`).join(', ')}; restore those files and write new migrations instead`, { details: conflicts })
    }
  }

  /** Runs `work` holding the fleet lock, on a checked topology. */
  async #locked<T>(options: Pick<MigrateOptions, 'waitForLockMs' | 'onEvent'>, work: () => Promise<T>): Promise<T> {
    const lock = await acquireFleetLock(this.#options.control, {
      pooler: this.#options.pooler,
      waitMs: options.waitForLockMs,
      onWait: (holder) => emit(options.onEvent, { type: 'waiting-for-lock', holder }),
    })
    try {
      await this.#checkTopology()
      return await work()
    } finally {
      await lock.release()
    }
  }

  /** Default concurrency: what the connection budget allows, keeping one connection for the lock. */
  #concurrency(requested: number | undefined): number {
    if (requested !== undefined) {
      if (!Number.isInteger(requested) || requested < 1 || requested > 1000) throw new TenantryError('VALIDATION_FAILED', 'concurrency must be an integer from 1 to 1000')
      return requested
    }
    if (this.#options.control.backend === 'pglite') return 1
    const limits = [8]
    const schemaPool = this.#options.schema?.target.pool
    if (schemaPool) limits.push(((schemaPool.options as { max?: number }).max ?? 10) - 1)
    if (this.#options.database) limits.push(Math.floor(this.#options.database.router.stats().budget / 2))
    return Math.max(1, Math.min(...limits))
  }

  /**
   * The shared and schema models' DDL commits with its ledger rows in one
   * transaction, which needs them in the control-plane database: checked once.
   */
  #checkTopology(): Promise<void> {
    this.#topologyChecked ??= (async () => {
      // The schema and database models' guard and runtime role (the shared model's come
      // with the migrations that create its tables): every tenant migrated or provisioned
      // gets its grants and walls from them.
      await this.#options.schema?.install()
      await this.#options.database?.install()
      const control = this.#options.control.pool
      const others = [this.#options.shared?.target.pool, this.#options.schema?.target.pool].filter((p): p is typeof control => p !== undefined && p !== control)
      if (!others.length) return
      const identify = async (pool: typeof control): Promise<string> => {
        const result = await pool.query<{ id: string }>(`select current_database() || ':' || (select system_identifier::text from pg_control_system()) as id`)
        return result.rows[0]?.id ?? ''
      }
      const expected = await identify(control)
      for (const pool of others) {
        if ((await identify(pool)) !== expected) {
          throw new TenantryError('ISOLATION_MISCONFIGURED', 'The shared and schema models must be in the control-plane database (the catalog\'s), so that each migration commits with its ledger row; point their targets at the same database')
        }
      }
    })()
    this.#topologyChecked.catch(() => { this.#topologyChecked = undefined })
    return this.#topologyChecked
  }
}

/** A listener that throws must not stop a run halfway (workers would go on without the lock). */
function emit(onEvent: MigrateOptions['onEvent'], event: MigrationEvent): void {
  try {
    onEvent?.(event)
  } catch {
    // The run's own outcome is what matters; a broken progress display is not a failure.
  }
}

/** Counts outcomes as they come in. */
class Tally {
  visited = 0
  migrated = 0
  current = 0
  readonly failed: TargetOutcome[] = []

  get failures(): number {
    return this.failed.length
  }

  add(outcome: TargetOutcome, options: Pick<MigrateOptions, 'onEvent'>): void {
    this.visited++
    if (outcome.status === 'failed') this.failed.push(outcome)
    else if (outcome.status === 'migrated') this.migrated++
    else if (outcome.status === 'current') this.current++
    emit(options.onEvent, { type: 'target-done', outcome })
  }

  summary(started: number, skipped: number): MigrationRunSummary {
    return {
      visited: this.visited, migrated: this.migrated, current: this.current, failed: this.failed,
      skipped, durationMs: performance.now() - started, ok: this.failed.length === 0 && skipped === 0,
    }
  }
}
