import { TenantryError, assertUuid, type ScopedTenant, type Tenant, type TenantPlacement } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { inTransaction } from '../../catalog/transaction.ts'
import { databaseRoute, type ConnectionRoute } from '../../driver/route.ts'
import type { ScopeBinding } from '../../driver/scope-binding.ts'
import type { PostgresTarget } from '../../driver/target.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import { assertHealthy, type DoctorReport } from '../../doctor/report.ts'
import { doctorSharedSchema } from '../../doctor/shared-schema.ts'
import { RuntimeAccess } from '../../walls/runtime-login.ts'
import { ScopeGuard } from '../../walls/scope-guard.ts'
import type { ScopeSigner } from '../../walls/scope-signer.ts'
import { SHARED_TARGET } from '../../migrations/ledger.ts'
import { poolConnection, type MigrationTarget } from '../../migrations/targets.ts'
import type { IsolationModel } from '../model.ts'
import { newDriverStats, scopedKysely, type ModelQueryRules, type ScopedKyselyOptions } from '../scoped-kysely.ts'
import { sharedSchemaBinding } from './binding.ts'
import { resolveSharedSchemaOptions, type ResolvedSharedSchemaOptions, type SharedSchemaOptions } from './options.ts'
import { sharedSchemaInstallStatements } from './rls.ts'

/** How `purge()` waits for work a tenant began before its fence. */
export interface PurgeOptions {
  /**
   * How long to wait for transactions of the runtime role that began before the
   * fence (they may still write) before giving up with CONFLICT; the tenant
   * stays fenced and a later purge() picks up where this one stopped. Default 30 s.
   */
  readonly drainTimeoutMs?: number
}

/**
 * The shared-schema model: one set of tables, each row carrying its tenant, behind
 * two walls — the Kysely plugin that scopes every statement, and PostgreSQL RLS
 * checked against a signed tenant scope that SQL run by the runtime role cannot
 * change. Tenant transactions run as the runtime role; on PostgreSQL its pool
 * logs in as it, so no statement can switch back to a privileged role.
 *
 * @example
 * const shared = new SharedSchemaIsolation(postgresTarget(process.env.DATABASE_URL!), { tables: ['projects', 'tasks'] })
 * await shared.install()      // guard, runtime role, grants, RLS policies (after your migrations)
 * await shared.assertSafe()   // doctor: refuses to serve an unsafe database
 * const db = shared.kysely<DB>()
 * await runWithTenant(acme, () => db.selectFrom('projects').selectAll().execute())
 */
export class SharedSchemaIsolation implements IsolationModel {
  readonly model = 'shared' as const
  readonly options: ResolvedSharedSchemaOptions
  readonly target: PostgresTarget
  /** The runtime role and the pool tenant transactions run on. */
  readonly runtime: RuntimeAccess
  /** The signed tenant scope of this database. */
  readonly guard: ScopeGuard
  /** Round trips, statements and transactions sent by Kysely instances of this model. */
  readonly stats: DriverStats = newDriverStats()
  #signer: ScopeSigner | undefined
  readonly #rules: ModelQueryRules

  constructor(target: PostgresTarget, options: SharedSchemaOptions) {
    this.target = target
    this.options = resolveSharedSchemaOptions(options)
    this.#rules = Object.freeze({
      rewrite: true,
      allowedSchemas: Object.freeze([this.options.schema]),
      tables: this.options.tables,
      tenantColumn: this.options.tenantColumn,
      filter: this.options.walls.plugin,
    })
    this.runtime = new RuntimeAccess(target, { role: this.options.runtimeRole, login: this.options.runtimeLogin })
    this.guard = new ScopeGuard(target)
  }

  /**
   * Installs the scope guard, the runtime role (LOGIN on PostgreSQL), the grants
   * and (with the RLS wall up) ENABLE, FORCE and the tenant policy on each tenant
   * table and its partitions. Idempotent; run it after the migrations that create
   * the tables.
   */
  async install(): Promise<void> {
    await inTransaction(this.target.pool, (client) => this.installIn(client))
  }

  /** `install()` inside a transaction the caller holds (a migration's, so new tables never commit without their walls). */
  async installIn(client: pg.ClientBase): Promise<void> {
    await client.query("select pg_advisory_xact_lock(hashtext('tenantry.shared.install'))")
    await this.#assertTablesExist(client)
    await this.guard.install(client)
    await this.runtime.install(client)
    for (const statement of sharedSchemaInstallStatements(this.options)) await client.query(statement)
  }

  /** Every tenant and global table must exist before its walls can: name the missing ones and say what to do. */
  async #assertTablesExist(client: pg.ClientBase): Promise<void> {
    const { schema, tables, globalTables } = this.options
    const names = [...tables, ...globalTables]
    const { rows } = await client.query<{ name: string }>(
      'select t.name from unnest($2::text[]) with ordinality as t(name, n) where pg_catalog.to_regclass(pg_catalog.quote_ident($1) || \'.\' || pg_catalog.quote_ident(t.name)) is null order by t.n',
      [schema, names],
    )
    if (rows.length === 0) return
    const missing = rows.map((r) => `${schema}.${r.name}`)
    throw new TenantryError(
      'ISOLATION_MISCONFIGURED',
      `The shared model's table${missing.length === 1 ? '' : 's'} ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist yet, so ${missing.length === 1 ? 'its' : 'their'} walls cannot be installed: create ${missing.length === 1 ? 'it' : 'them'} with your tenant migrations (\`tenantry migrate\`, or createTenantry with migrations), or remove ${missing.length === 1 ? 'it' : 'them'} from the model's tables.`,
      { details: missing.map((table) => ({ path: 'tables', message: `${table} does not exist` })) },
    )
  }

  /**
   * Deletes every row of `tenant` from the model's tables, children first (the
   * reverse of `tables`): the offboarding purge. First it fences the tenant (a
   * row in `tenantry.tenant_fences`: from its commit on, the RLS policy refuses
   * the tenant's writes on every instance), then waits until no transaction of
   * the runtime role that began before the fence is still open (one admitted
   * just before could still write), then deletes, as the owner under the
   * tenant's scope. The fence stays, so no row of the tenant can come back.
   * Idempotent.
   *
   * @example
   * await shared.purge(tenant)   // then catalog.markDeleted(tenant.id)
   */
  async purge(tenant: Pick<Tenant, 'id'>, options: PurgeOptions = {}): Promise<void> {
    assertUuid(tenant.id, 'tenant.id')
    const { schema, tables, tenantColumn } = this.options
    const drainFrom = await this.fence(tenant)
    await this.#drain(drainFrom, options.drainTimeoutMs ?? 30_000, tenant.id)
    await inTransaction(this.target.pool, async (client) => {
      await this.guard.enter(client, tenant.id)
      for (const table of [...tables].reverse()) {
        await client.query(`delete from ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} where ${pg.escapeIdentifier(tenantColumn)} = $1`, [tenant.id])
      }
    })
  }

  /**
   * Fences `tenant`: its writes are refused (TENANT_SUSPENDED) from the commit
   * on. Returns the server time after the commit: every transaction that began
   * later sees the fence.
   */
  async fence(tenant: Pick<Tenant, 'id'>): Promise<Date> {
    assertUuid(tenant.id, 'tenant.id')
    await this.target.pool.query('insert into tenantry.tenant_fences (tenant_id) values ($1) on conflict (tenant_id) do nothing', [tenant.id])
    const row = (await this.target.pool.query<{ now: Date }>('select clock_timestamp() as now')).rows[0]
    return row?.now ?? new Date()
  }

  /** Waits until no runtime transaction that began before `from` is open. */
  async #drain(from: Date, timeoutMs: number, tenantId: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const login = this.runtime.mode === 'login' ? this.runtime.loginUser ?? null : null
    for (;;) {
      const row = (await this.target.pool.query<{ open: number; hidden: number }>(
        `select count(*) filter (where xact_start < $1)::int as open,
                count(*) filter (where xact_start is null and state is null)::int as hidden
           from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
            and ($2::name is null or usename = $2::name)`,
        [from, login],
      )).rows[0]
      if (row !== undefined && row.hidden > 0) {
        throw new TenantryError('ISOLATION_MISCONFIGURED', `Offboarding cannot see whether transactions of the runtime role are still open (pg_stat_activity hides them from this role); run install() again (it makes the owner a member of the runtime role) or grant pg_read_all_stats to it`)
      }
      if (row === undefined || row.open === 0) return
      if (Date.now() >= deadline) {
        throw new TenantryError('CONFLICT', `Tenant ${tenantId} is fenced, but ${row.open} transaction(s) of the runtime role that began before the fence are still open; purge() again once they end (the tenant takes no writes meanwhile)`, {
          details: { openTransactions: row.open },
        })
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Checks roles, the guard, RLS, policies, indexes and what could bypass them; see docs/doctor.md. */
  doctor(): Promise<DoctorReport> {
    return doctorSharedSchema(this)
  }

  /** Runs doctor() and throws ISOLATION_MISCONFIGURED when it finds an error. */
  async assertSafe(): Promise<DoctorReport> {
    const report = await this.doctor()
    assertHealthy(report)
    return report
  }

  /**
   * A Kysely instance bound to the tenant context: every query is scoped to the
   * current tenant, sent with its transaction settings in one round trip, and
   * refused outside a scope.
   */
  kysely<DB>(options: ScopedKyselyOptions = {}): Kysely<DB> {
    return scopedKysely<DB>(this.route(), this.queryRules(), this.stats, options)
  }

  /** Where this model's queries run: tenant scopes on the runtime pool with the scope settings, the system scope on the owner's. */
  route(): ConnectionRoute {
    return databaseRoute({
      owner: this.target.pool,
      runtime: () => ((this.#signer !== undefined || !this.options.walls.rls) && this.runtime.openedPool()) || this.ready(),
      binding: this.binding(),
      scopeRefused: () => this.guard.refreshSoon(),
      checkLoginDefaults: this.runtime.mode === 'login' && this.runtime.loginUser !== undefined,
    })
  }

  /** Transaction settings: the runtime role if switched, the pinned search_path and the signed scope (after `ready()`). */
  binding(): ScopeBinding {
    return sharedSchemaBinding({
      runtime: this.runtime,
      searchPath: this.options.searchPath,
      rls: this.options.walls.rls,
      signer: () => this.#loadedSigner(),
    })
  }

  /** Opens the runtime pool and loads the scope signer; tenant queries wait for it once. */
  async ready(): Promise<pg.Pool> {
    if (!this.options.walls.rls) return this.runtime.pool()
    const [pool, signer] = await Promise.all([this.runtime.pool(), this.guard.signer()])
    this.#signer = signer
    return pool
  }

  #loadedSigner(): ScopeSigner {
    if (this.#signer === undefined) throw new TenantryError('INTERNAL', 'The scope signer is not loaded; tenant connections come from route().acquire, which loads it')
    return this.#signer
  }

  /**
   * Rewritten with the tenant predicate (unless the plugin wall is off); only the
   * tenant tables' own schema may be named: in a database that also holds
   * per-tenant schemas, another schema could be a tenant's.
   */
  queryRules(): ModelQueryRules {
    return this.#rules
  }

  /** Shared tenants have no tables of their own: the shared tables are one target (`sharedTablesTarget`). */
  migrationTarget(): MigrationTarget | undefined {
    return undefined
  }

  /**
   * The shared tables as one migration target, with its ledger in the control
   * plane; after a run that applied something, the walls go up on every table
   * in the same transaction (unless `installWalls` is false).
   */
  sharedTablesTarget(installWalls = true): MigrationTarget {
    const schema = this.options.schema
    return {
      set: 'tenant', key: SHARED_TARGET, model: 'shared', schema, ledger: 'control', label: `shared tables (schema ${schema})`,
      connect: poolConnection(this.target.pool),
      afterUp: installWalls ? (client) => this.installIn(client) : undefined,
    }
  }

  /** Nothing to create: a shared tenant's rows go in the shared tables. */
  async provision(tenant: ScopedTenant): Promise<TenantPlacement> {
    return tenant.placement ?? {}
  }

  /** The offboarding purge (see `purge`). */
  async deprovision(tenant: Pick<Tenant, 'id'>): Promise<void> {
    await this.purge(tenant)
  }

  /** Closes the runtime login pool this model opened (not the target's). */
  async close(): Promise<void> {
    await this.runtime.close()
  }
}
