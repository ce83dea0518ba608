import { randomBytes, randomUUID } from 'node:crypto'
import { TenantryError, type ScopedTenant } from '@tenantry/core'
import type { Kysely } from 'kysely'
import pg from 'pg'
import { clientReader, currentSchemaOf, scopeReader, type CatalogClient, type CatalogReader, type CatalogSource } from './catalog-source.ts'
import { introspectTables, parentsFirst } from './introspect.ts'
import type { AnyDb, TableShape } from './shapes.ts'
import { kyselyOverRunner, type SqlRunner } from './sql-runner.ts'
import { asTenant, contentColumns, matchAs, planRowFor, rowText, WrittenRows, type KitState, type Label, type Row } from './kit-state.ts'
import { probeOwnRowsAsA, probeReadsAsB, probeWritesAsB } from './probes.ts'
import { probeReferencesAsB } from './reference-probes.ts'
import { CheckLog, describeError, type ConformanceReport } from './report.ts'
import type { SampleRowFactory } from './sample-rows.ts'

/**
 * What `checkTenantIsolation` checks, and how it reaches the database: through a
 * Tenantry-scoped Kysely instance (`db`), or through any SQL client
 * (`runner`, a `SqlRunner`: Drizzle, Prisma, plain node-postgres over
 * `tenantry.pool`). One of the two.
 *
 * @example
 * // shared model
 * const shared: TenantIsolationCheckOptions = {
 *   db: sharedModel.kysely(),      // the scoped instance your app uses
 *   pool: target.pool,             // admin pool: catalog reads and the final sweep
 *   tables: ['projects', 'tasks'],
 *   sample: { tasks: () => ({ status: 'todo' }) },
 * }
 * // the same checks through Drizzle over tenantry.pool
 * const viaDrizzle: TenantIsolationCheckOptions = { runner: drizzleRunner(tenantryDrizzle(tenantry)), pool: target.pool, tables: ['projects', 'tasks'] }
 * // schema per tenant: the kit provisions its two tenants, and drops them at the end
 * const schema: TenantIsolationCheckOptions = {
 *   db: schemas.kysely(),
 *   tables: ['projects', 'tasks'],
 *   provision: async (tenant) => ({ ...tenant, isolation: 'schema', placement: await schemas.provision(tenant, createTables) }),
 *   deprovision: (tenant) => schemas.deprovision(tenant),
 * }
 */
export type TenantIsolationCheckOptions = TenantIsolationCheckSettings & (
  | {
    /** A Tenantry-scoped Kysely instance (a model's `kysely()`, or `TenantData.kysely()`), the one under test. */
    readonly db: Kysely<any>
    readonly runner?: undefined
  }
  | {
    /**
     * The SQL client under test, as a `SqlRunner` (e.g. `drizzleRunner(db)` from
     * `@tenantry/drizzle`): the kit's statements are built with Kysely's query
     * builder and sent through it (`kyselyOverRunner`), each in the scope of the
     * tenant it runs as. Its `transaction` is not needed.
     */
    readonly runner: SqlRunner
    readonly db?: undefined
  }
)

/**
 * Everything `checkTenantIsolation` takes besides the client under test (`db` or
 * `runner`; see TenantIsolationCheckOptions).
 *
 * @example
 * const settings: TenantIsolationCheckSettings = { pool: target.pool, tables: ['projects', 'tasks'], rowsPerTenant: 3 }
 * await assertTenantIsolation({ ...settings, db: shared.kysely() })
 */
export interface TenantIsolationCheckSettings {
  /**
   * An unscoped admin pool to the database of the shared tables: where the kit reads
   * their structure when tenant A is in the shared model, and the final sweep of
   * A's and B's rows by tenant column. Optional when neither tenant is shared.
   */
  readonly pool?: CatalogClient
  /** The tenant tables to check; each must be reachable by its plain name through `db` (or `runner`). */
  readonly tables: readonly string[]
  /** Schema of the shared tables. Default `public`. */
  readonly schema?: string
  /**
   * Column that names the tenant in the shared tables. Default `tenant_id`. Tenants
   * placed in a schema or database of their own (`isolation` `schema` or `database`)
   * have none; `null` says no tenant has one (e.g. `SchemaPerTenantIsolation.kysely()`
   * with tenants that carry no `isolation`).
   */
  readonly tenantColumn?: string | null
  /**
   * Where to read the tables' structure. Default: `{ pool, schema }` when tenant A
   * is in the shared model; otherwise tenant A's own scope on `db` or `runner` (the schema its
   * search_path names, or its own database).
   */
  readonly introspect?: CatalogSource | ((a: ScopedTenant) => CatalogSource)
  /** Row factories by table, for columns the kit cannot fill by type (CHECK constraints, odd types). */
  readonly sample?: Readonly<Record<string, SampleRowFactory>>
  /**
   * The two tenants to use (active, with no rows in these tables yet), e.g. when the
   * tenant column references a catalog, or tenants already placed in a schema or
   * database (`isolation` and `placement` set). Default: two synthetic tenants with random ids.
   */
  readonly tenants?: readonly [ScopedTenant, ScopedTenant]
  /**
   * Places each of the two tenants before the checks, and returns it as the scope
   * must carry it (`isolation`, `placement`): e.g. `schemas.provision(tenant, setup)`.
   * `label` is `a` (the tenant whose rows B must not reach) or `b`.
   */
  readonly provision?: (tenant: ScopedTenant, label: Label) => Promise<ScopedTenant>
  /** Removes a tenant `provision` placed, after the checks (e.g. `schemas.deprovision`). */
  readonly deprovision?: (tenant: ScopedTenant) => Promise<void>
  /** Rows each tenant writes per table. Default 2. */
  readonly rowsPerTenant?: number
}

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

function syntheticTenant(label: string): ScopedTenant {
  return { id: randomUUID(), slug: `conformance-${label}-${randomBytes(4).toString('hex')}`, status: 'active' }
}

function validate(options: TenantIsolationCheckOptions): void {
  const problems: string[] = []
  const hasDb = options?.db !== undefined
  const hasRunner = options?.runner !== undefined
  if (hasDb && hasRunner) problems.push('pass db (a Tenantry-scoped Kysely instance) or runner (a SqlRunner), not both')
  else if (hasRunner && typeof options.runner?.query !== 'function') problems.push('runner must be a SqlRunner: an object with query(sql, parameters)')
  else if (!hasRunner && typeof options?.db?.selectFrom !== 'function') problems.push('db must be a Kysely instance (or pass runner, a SqlRunner)')
  if (!Array.isArray(options?.tables) || options.tables.length === 0) problems.push('tables must name at least one table')
  if (options?.rowsPerTenant !== undefined && !(Number.isInteger(options.rowsPerTenant) && options.rowsPerTenant >= 1)) problems.push('rowsPerTenant must be a positive integer')
  if (options?.provision !== undefined && typeof options.provision !== 'function') problems.push('provision must be a function (tenant, label) => Promise<tenant>')
  if (options?.deprovision !== undefined && typeof options.deprovision !== 'function') problems.push('deprovision must be a function (tenant) => Promise<void>')
  if (problems.length > 0) throw new TenantryError('VALIDATION_FAILED', `Invalid conformance kit options: ${problems.join('; ')}`)
}

const isShared = (tenant: ScopedTenant): boolean => (tenant.isolation ?? 'shared') === 'shared'

/** Places the two tenants with `provision` (into `placed`); false, with a failed check, when that fails. */
async function placeTenants(options: TenantIsolationCheckOptions, tenants: readonly [ScopedTenant, ScopedTenant], log: CheckLog, placed: ScopedTenant[]): Promise<boolean> {
  const provision = options.provision
  if (provision === undefined) return true
  for (const [tenant, label] of [[tenants[0], 'a'], [tenants[1], 'b']] as const) {
    try {
      placed.push(await provision(tenant, label))
    } catch (error) {
      log.fail('setup.provision', undefined, `provision() failed for tenant ${label.toUpperCase()}: ${describeError(error)}`)
      return false
    }
  }
  return true
}

/** Where to read the structure of A's tables, and the schema they are in. */
async function catalogOf(options: TenantIsolationCheckOptions, db: AnyDb, a: ScopedTenant, aHasColumn: boolean): Promise<{ read: CatalogReader; schema: string }> {
  const given = typeof options.introspect === 'function' ? options.introspect(a) : options.introspect
  if (given !== undefined) return { read: clientReader(given.pool), schema: given.schema ?? options.schema ?? 'public' }
  if (aHasColumn && options.pool !== undefined) return { read: clientReader(options.pool), schema: options.schema ?? 'public' }
  const read = scopeReader(db, a)
  const schema = aHasColumn && options.schema !== undefined ? options.schema : await currentSchemaOf(read)
  if (schema === undefined) throw new Error(`tenant A's scope has no schema on its search_path`)
  return { read, schema }
}

/** An existing row of each parent table outside the tenant set, for NOT NULL foreign keys to it. */
async function outsideParentRows(read: CatalogReader, shapes: readonly TableShape[], schema: string, log: CheckLog): Promise<Map<string, Row> | undefined> {
  const tenantTables = new Set(shapes.map((s) => s.name))
  const rows = new Map<string, Row>()
  for (const shape of shapes) {
    for (const fk of shape.foreignKeys) {
      if (fk.parentSchema === schema && tenantTables.has(fk.parentTable)) continue
      const required = fk.columns.some((c) => shape.columns.find((col) => col.name === c)?.notNull)
      if (!required) continue
      const columns = fk.parentColumns.map(q).join(', ')
      const [found] = await read(`select ${columns} from ${q(fk.parentSchema)}.${q(fk.parentTable)} limit 1`, [])
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
        const planned = planRowFor(state, label, shape, index, parents)
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
  if (state.placed && !rowsTellTenantsApart(state)) return false
  state.log.pass('setup.rows', undefined, `tenants A (${state.a.id}) and B (${state.b.id}) wrote ${rowsPerTenant} row(s) in each of ${state.shapes.length} table(s)`)
  return true
}

/**
 * Without a tenant column, the kit tells A's rows from B's by their values (keys
 * repeat across placements). Two rows that agree on every column it compares
 * would make a check match the wrong tenant's row: that is a setup failure.
 */
function rowsTellTenantsApart(state: KitState): boolean {
  for (const shape of state.shapes) {
    const on = (row: Row, columns: readonly string[]) => rowText(Object.fromEntries(columns.map((c) => [c, row[c] ?? null])))
    const agree = (x: Row, y: Row) => {
      const columns = contentColumns(shape, x, state.tenantColumn)
      return on(x, columns) === on(y, columns)
    }
    for (const aRow of state.written.of('a', shape.name)) {
      const twin = state.written.of('b', shape.name).find((bRow) => agree(aRow, bRow) || agree(bRow, aRow))
      if (twin !== undefined) {
        state.log.fail('setup.rows', shape.name, `A's row ${JSON.stringify(aRow)} and B's row ${JSON.stringify(twin)} agree on every column the kit can compare; without a tenant column it tells the tenants' rows apart by value: pass sample.${shape.name} giving a text, number or uuid column a value per tenant (ctx.label)`)
        return false
      }
    }
  }
  return true
}

async function cleanUp(state: KitState, options: TenantIsolationCheckOptions, placed: readonly ScopedTenant[]): Promise<void> {
  const problems: string[] = []
  const childrenFirst = [...state.shapes].reverse()
  for (const shape of childrenFirst) {
    for (const [tenant, label] of [[state.b, 'b'], [state.a, 'a']] as const) {
      const rows = [...state.written.of(label, shape.name), ...state.extra.of(label, shape.name)]
      if (rows.length === 0) continue
      await asTenant(tenant, () => state.db.deleteFrom(shape.name).where((eb) => matchAs(state, label, eb, shape, rows, { byContent: false })).execute()).catch((error: unknown) => {
        problems.push(`${shape.name} as ${label.toUpperCase()}: ${describeError(error)}`)
      })
    }
  }
  // Whatever a broken wall let through under the wrong tenant: removed by the admin pool.
  const sweep = [state.a, state.b].filter((_, i) => state.columnOf[i === 0 ? 'a' : 'b'] !== null).map((t) => t.id)
  if (options.pool !== undefined && state.tenantColumn !== null && sweep.length > 0) {
    const schema = options.schema ?? 'public'
    for (const shape of childrenFirst) {
      const sql = `delete from ${q(schema)}.${q(shape.name)} where ${q(state.tenantColumn)}::text = any($1::text[])`
      await options.pool.query(sql, [sweep]).catch((error: unknown) => {
        problems.push(`${shape.name} via the admin pool: ${describeError(error)}`)
      })
    }
  }
  problems.push(...(await deprovision(options, placed)))
  if (problems.length === 0) state.log.pass('cleanup', undefined)
  else state.log.fail('cleanup', undefined, `rows of A or B may remain: ${problems.join('; ')}`)
}

async function deprovision(options: TenantIsolationCheckOptions, placed: readonly ScopedTenant[]): Promise<string[]> {
  const problems: string[] = []
  if (options.deprovision === undefined) return problems
  for (const tenant of placed) {
    await options.deprovision(tenant).catch((error: unknown) => problems.push(`deprovision(${tenant.slug}): ${describeError(error)}`))
  }
  return problems
}

export async function runConformanceChecks(options: TenantIsolationCheckOptions): Promise<ConformanceReport> {
  validate(options)
  const { tables, sample = {}, rowsPerTenant = 2 } = options
  const db: AnyDb = options.runner === undefined ? options.db : kyselyOverRunner(options.runner)
  const tenantColumn = options.tenantColumn === undefined ? 'tenant_id' : options.tenantColumn
  const log = new CheckLog()
  const given = options.tenants ?? [syntheticTenant('a'), syntheticTenant('b')]
  const placed: ScopedTenant[] = []
  if (!(await placeTenants(options, given, log, placed))) {
    const problems = await deprovision(options, placed)
    if (problems.length > 0) log.fail('cleanup', undefined, `placements may remain: ${problems.join('; ')}`)
    return log.report({ a: placed[0] ?? given[0], b: given[1] })
  }
  const [a, b] = options.provision === undefined ? given : (placed as [ScopedTenant, ScopedTenant])
  const columnOf = { a: tenantColumn !== null && isShared(a) ? tenantColumn : null, b: tenantColumn !== null && isShared(b) ? tenantColumn : null }
  const state: KitState = {
    db, tenantColumn, columnOf, a, b, log, samples: sample,
    placed: columnOf.a === null || columnOf.b === null,
    schema: options.schema ?? 'public',
    outsideParents: new Map(),
    shapes: [],
    deferred: new Set(),
    written: new WrittenRows(),
    extra: new WrittenRows(),
  }
  let ready: KitState | undefined
  try {
    ready = await prepare(state, options)
    if (ready !== undefined && (await writeRows(ready, rowsPerTenant))) await probe(ready)
  } finally {
    await cleanUp(ready ?? state, options, placed)
  }
  return log.report({ a, b })
}

/** Introspects A's tables and orders them; undefined (with failed checks) when the kit cannot go on. */
async function prepare(state: KitState, options: TenantIsolationCheckOptions): Promise<KitState | undefined> {
  const { log } = state
  let catalog: { read: CatalogReader; schema: string }
  let introspected: Awaited<ReturnType<typeof introspectTables>>
  try {
    catalog = await catalogOf(options, state.db, state.a, state.columnOf.a !== null)
    introspected = await introspectTables(catalog.read, catalog.schema, options.tables)
  } catch (error) {
    log.fail('setup.introspect', undefined, `could not read the tables' structure: ${describeError(error)}`)
    return undefined
  }
  const { shapes, missing } = introspected
  for (const table of missing) log.fail('setup.table', table, `no table ${catalog.schema}.${table}`)
  const aColumn = state.columnOf.a
  for (const shape of shapes) {
    if (aColumn !== null && !shape.columns.some((c) => c.name === aColumn)) log.fail('setup.tenant-column', shape.name, `no column "${aColumn}"`)
  }
  const ordered = parentsFirst(shapes, catalog.schema)
  if (ordered === undefined) log.fail('setup.order', undefined, 'the foreign keys among the tenant tables form a cycle of NOT NULL columns')
  if (log.report({ a: state.a, b: state.b }).failures.length > 0 || ordered === undefined) return undefined
  const outsideParents = await outsideParentRows(catalog.read, shapes, catalog.schema, log)
  if (outsideParents === undefined) return undefined
  return { ...state, schema: catalog.schema, shapes: ordered.order, deferred: ordered.deferred, outsideParents }
}

async function probe(state: KitState): Promise<void> {
  // Reads first: a write that slips through (a cascading DELETE) would hide later leaks.
  for (const shape of state.shapes) await probeReadsAsB(state, shape)
  const tenantTables = new Set(state.shapes.map((s) => s.name))
  for (const child of state.shapes) {
    for (const fk of child.foreignKeys) {
      if (fk.parentSchema === state.schema && fk.parentTable !== child.name && tenantTables.has(fk.parentTable)) await probeReferencesAsB(state, child, fk)
    }
  }
  for (const shape of [...state.shapes].reverse()) await probeWritesAsB(state, shape)
  for (const shape of state.shapes) await probeOwnRowsAsA(state, shape)
}
