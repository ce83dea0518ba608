import { assertUuid, type Tenant } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { inTransaction } from '../../catalog/transaction.ts'
import { poolRoute, type ConnectionRoute } from '../../driver/route.ts'
import type { DriverStats } from '../../driver/tenant-driver.ts'
import { newDriverStats, scopedKysely, type ScopedKyselyOptions } from '../scoped-kysely.ts'
import type { PostgresTarget } from '../../driver/target.ts'
import { assertHealthy, type DoctorReport } from '../../doctor/report.ts'
import { doctorSharedSchema } from '../../doctor/shared-schema.ts'
import { sharedSchemaBinding } from './binding.ts'
import { resolveSharedSchemaOptions, type ResolvedSharedSchemaOptions, type SharedSchemaOptions } from './options.ts'
import { sharedSchemaInstallStatements } from './rls.ts'

/**
 * The shared-schema model: one set of tables, each row carrying its tenant, behind
 * two walls — the Kysely plugin that scopes every statement, and PostgreSQL RLS
 * checked against the tenant set for each transaction.
 *
 * @example
 * const shared = new SharedSchemaIsolation(postgresTarget(process.env.DATABASE_URL!), { tables: ['projects', 'tasks'] })
 * await shared.install()      // role, grants, RLS policies (after your migrations)
 * await shared.assertSafe()   // doctor: refuses to serve an unsafe database
 * const db = shared.kysely<DB>()
 * await runWithTenant(acme, () => db.selectFrom('projects').selectAll().execute())
 */
export class SharedSchemaIsolation {
  readonly model = 'shared' as const
  readonly options: ResolvedSharedSchemaOptions
  readonly target: PostgresTarget
  /** Round trips, statements and transactions sent by Kysely instances of this model. */
  readonly stats: DriverStats = newDriverStats()

  constructor(target: PostgresTarget, options: SharedSchemaOptions) {
    this.target = target
    this.options = resolveSharedSchemaOptions(options)
  }

  /**
   * Creates the runtime role if missing, grants it the tenant tables, and (with the
   * RLS wall up) enables, forces and writes the tenant policy on each. Idempotent;
   * run it after the migrations that create the tables.
   */
  async install(): Promise<void> {
    const client = await this.target.pool.connect()
    try {
      await client.query('begin')
      await client.query("select pg_advisory_xact_lock(hashtext('tenantry.shared.install'))")
      for (const statement of sharedSchemaInstallStatements(this.options)) await client.query(statement)
      await client.query('commit')
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }

  /**
   * Deletes every row of `tenant` from the model's tables, children first (the
   * reverse of `tables`), in one transaction: the offboarding purge. It runs as
   * the connecting (owner) role with the tenant's setting, so under FORCE RLS the
   * policy matches exactly that tenant's rows. Idempotent.
   *
   * @example
   * await shared.purge(tenant)   // then catalog.markDeleted(tenant.id)
   */
  async purge(tenant: Pick<Tenant, 'id'>): Promise<void> {
    assertUuid(tenant.id, 'tenant.id')
    const { schema, tables, tenantColumn, tenantSetting } = this.options
    await inTransaction(this.target.pool, async (client) => {
      await client.query('select set_config($1, $2, true)', [tenantSetting, tenant.id])
      for (const table of [...tables].reverse()) {
        await client.query(`delete from ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)} where ${pg.escapeIdentifier(tenantColumn)} = $1`, [tenant.id])
      }
    })
  }

  /** Checks roles, RLS, policies and indexes; see docs/doctor.md. */
  doctor(): Promise<DoctorReport> {
    return doctorSharedSchema(this.target.pool, this.options)
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
    return scopedKysely<DB>(this.route(), this.pluginOptions(), this.stats, options)
  }

  /** Where this model's queries run: the target's pool, with the RLS settings. */
  route(): ConnectionRoute {
    return poolRoute(this.target.pool, sharedSchemaBinding(this.options))
  }

  /** The tenant plugin's options for this model's tables and walls. */
  pluginOptions(): { tables: readonly string[]; tenantColumn: string; filter: boolean; schema: string; allowedSchemas: () => readonly string[] } {
    const schema = this.options.schema
    return {
      tables: this.options.tables,
      tenantColumn: this.options.tenantColumn,
      filter: this.options.walls.plugin,
      schema,
      // Only the tenant tables' own schema may be named: in a database that also
      // holds per-tenant schemas, another schema could be a tenant's.
      allowedSchemas: () => [schema],
    }
  }
}
