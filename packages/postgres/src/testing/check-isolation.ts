import { randomBytes, randomUUID } from 'node:crypto'
import type { ScopedTenant } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { introspectTables, parentsFirst, type TableShape } from './introspect.ts'
import { asTenant, matchRows, WrittenRows, type KitState, type Row } from './kit-state.ts'
import { probeOwnRowsAsA, probeReadsAsB, probeReferencesAsB, probeWritesAsB } from './probes.ts'
import { CheckLog, describeError, type ConformanceReport } from './report.ts'
import { planRow, type SampleRowFactory } from './sample-rows.ts'

/**
 * What `checkTenantIsolation` checks, and how it reaches the database.
 *
 * @example
 * const options: TenantIsolationCheckOptions = {
 *   db: shared.kysely(),            // the scoped instance your app uses
 *   pool: target.pool,              // admin pool: catalog reads and the final sweep
 *   tables: ['projects', 'tasks'],
 *   sample: { tasks: () => ({ status: 'todo' }) },
 * }
 */
export interface TenantIsolationCheckOptions {
  /** A Tenantry-scoped Kysely instance (e.g. `SharedSchemaIsolation.kysely()`), the one under test. */
  readonly db: Kysely<any>
  /** An unscoped admin pool to the same database, for catalog reads and the final sweep. */
  readonly pool: pg.Pool
  /** The tenant tables to check; each must be reachable by its plain name through `db`. */
  readonly tables: readonly string[]
  /** Schema of the tables. Default `public`. */
  readonly schema?: string
  /** Column that names the tenant. Default `tenant_id`. */
  readonly tenantColumn?: string
  /** Row factories by table, for columns the kit cannot fill by type (CHECK constraints, odd types). */
  readonly sample?: Readonly<Record<string, SampleRowFactory>>
  /**
   * The two tenants to use (active, with no rows in these tables yet), e.g. when the
   * tenant column references a catalog. Default: two synthetic tenants with random ids.
   */
  readonly tenants?: readonly [ScopedTenant, ScopedTenant]
  /** Rows each tenant writes per table. Default 2. */
  readonly rowsPerTenant?: number
}

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

function syntheticTenant(label: string): ScopedTenant {
  return { id: randomUUID(), slug: `conformance-${label}-${randomBytes(4).toString('hex')}`, status: 'active' }
}

/** An existing row of each parent table outside the tenant set, for NOT NULL foreign keys to it. */
async function outsideParentRows(pool: pg.Pool, shapes: readonly TableShape[], schema: string, log: CheckLog): Promise<Map<string, Row> | undefined> {
  const tenantTables = new Set(shapes.map((s) => s.name))
  const rows = new Map<string, Row>()
  for (const shape of shapes) {
    for (const fk of shape.foreignKeys) {
      if (fk.parentSchema === schema && tenantTables.has(fk.parentTable)) continue
      const required = fk.columns.some((c) => shape.columns.find((col) => col.name === c)?.notNull)
      if (!required) continue
      const columns = fk.parentColumns.map(q).join(', ')
      const found = (await pool.query<Row>(`select ${columns} from ${q(fk.parentSchema)}.${q(fk.parentTable)} limit 1`)).rows[0]
      if (found === undefined) {
        log.fail('setup.rows', shape.name, `foreign key ${fk.name} needs a row in ${fk.parentSchema}.${fk.parentTable}, which is empty; add one or pass a sample factory`)
        return undefined
      }
      rows.set(fk.name, found)
    }
  }
  return rows
}

async function writeRows(state: KitState, rowsPerTenant: number): Promise<boolean> {
  for (const [tenant, label] of [[state.a, 'a'], [state.b, 'b']] as const) {
    const parents = new Map<string, Row>()
    for (const shape of state.shapes) {
      for (let index = 0; index < rowsPerTenant; index++) {
        const sample = state.samples[shape.name]
        const planned = planRow({ shape, tenantColumn: state.tenantColumn, tenant, label, index, parents, outsideParents: state.outsideParents, deferred: state.deferred, sample })
        if (!('row' in planned)) {
          state.log.fail('setup.rows', shape.name, `cannot generate values for NOT NULL column(s) ${planned.unsupported.join(', ')}; pass sample.${shape.name}`)
          return false
        }
        try {
          const written = await asTenant(tenant, () => state.db.insertInto(shape.name).values(planned.row).returningAll().executeTakeFirstOrThrow())
          state.written.add(label, shape.name, written)
          if (index === 0) parents.set(shape.name, written)
        } catch (error) {
          state.log.fail('setup.rows', shape.name, `tenant ${label.toUpperCase()} could not insert ${JSON.stringify(planned.row)}: ${describeError(error)} (pass sample.${shape.name} for constrained columns)`)
          return false
        }
      }
    }
  }
  state.log.pass('setup.rows', undefined, `tenants A (${state.a.id}) and B (${state.b.id}) wrote ${rowsPerTenant} row(s) in each of ${state.shapes.length} table(s)`)
  return true
}

async function cleanUp(state: KitState, pool: pg.Pool, schema: string): Promise<void> {
  const problems: string[] = []
  const childrenFirst = [...state.shapes].reverse()
  for (const shape of childrenFirst) {
    for (const [tenant, label] of [[state.b, 'b'], [state.a, 'a']] as const) {
      const rows = [...state.written.of(label, shape.name), ...state.extra.of(label, shape.name)]
      if (rows.length === 0) continue
      await asTenant(tenant, () => state.db.deleteFrom(shape.name).where((eb) => matchRows(eb, shape, rows)).execute()).catch((error: unknown) => {
        problems.push(`${shape.name} as ${label.toUpperCase()}: ${describeError(error)}`)
      })
    }
  }
  // Whatever a broken wall let through under the wrong tenant: removed by the admin pool.
  for (const shape of childrenFirst) {
    const sql = `delete from ${q(schema)}.${q(shape.name)} where ${q(state.tenantColumn)}::text = any($1::text[])`
    await pool.query(sql, [[state.a.id, state.b.id]]).catch((error: unknown) => {
      problems.push(`${shape.name} via the admin pool: ${describeError(error)}`)
    })
  }
  if (problems.length === 0) state.log.pass('cleanup', undefined)
  else state.log.fail('cleanup', undefined, `rows of A or B may remain: ${problems.join('; ')}`)
}

export async function runConformanceChecks(options: TenantIsolationCheckOptions): Promise<ConformanceReport> {
  const { db, pool, tables, schema = 'public', tenantColumn = 'tenant_id', sample = {}, rowsPerTenant = 2 } = options
  const [a, b] = options.tenants ?? [syntheticTenant('a'), syntheticTenant('b')]
  const log = new CheckLog()
  const tenants = { a, b }
  const { shapes, missing } = await introspectTables(pool, schema, tables)
  for (const table of missing) log.fail('setup.table', table, `no table ${schema}.${table}`)
  for (const shape of shapes) {
    if (!shape.columns.some((c) => c.name === tenantColumn)) log.fail('setup.tenant-column', shape.name, `no column "${tenantColumn}"`)
  }
  const ordered = parentsFirst(shapes, schema)
  if (ordered === undefined) log.fail('setup.order', undefined, 'the foreign keys among the tenant tables form a cycle of NOT NULL columns')
  if (log.report(tenants).failures.length > 0 || ordered === undefined) return log.report(tenants)
  const outsideParents = await outsideParentRows(pool, shapes, schema, log)
  if (outsideParents === undefined) return log.report(tenants)

  const state: KitState = {
    db, tenantColumn, a, b, log, outsideParents, samples: sample,
    shapes: ordered.order,
    deferred: ordered.deferred,
    written: new WrittenRows(),
    extra: new WrittenRows(),
  }
  try {
    if (await writeRows(state, rowsPerTenant)) {
      // Reads first: a write that slips through (a cascading DELETE) would hide later leaks.
      for (const shape of state.shapes) await probeReadsAsB(state, shape)
      const tenantTables = new Set(state.shapes.map((s) => s.name))
      for (const child of state.shapes) {
        for (const fk of child.foreignKeys) {
          if (fk.parentSchema === schema && fk.parentTable !== child.name && tenantTables.has(fk.parentTable)) await probeReferencesAsB(state, child, fk)
        }
      }
      for (const shape of [...state.shapes].reverse()) await probeWritesAsB(state, shape)
      for (const shape of state.shapes) await probeOwnRowsAsA(state, shape)
    }
  } finally {
    await cleanUp(state, pool, schema)
  }
  return log.report(tenants)
}
