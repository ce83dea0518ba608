/**
 * The Drizzle fuzzer's world: the leak fuzzer's seeded tables for tenants A, B
 * and C in every model (shared rows in `public`, a schema each, a database each),
 * the oracle copies holding B's rows only, and what the fuzzer needs to let B's
 * writes commit: a fingerprint of every tenant's rows in every placement, and a
 * restore of B's rows and the oracle's copy to the seed.
 *
 * A committed write must change B's rows in B's placement and nothing else: the
 * fingerprint of every other region is compared with the one taken at the start.
 */
import { PGlite } from '@electric-sql/pglite'
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import { SharedSchemaIsolation, type DatabaseKey, type PoolRouter } from '@tenantry/postgres'
import { dropRoles, openModels, uniqueName, type TestBackend, type TestDatabase, type TestModels } from '@tenantry/test-kit'
import pg from 'pg'
import {
  COLUMNS, createFuzzWorld, createPlacedOracle, GLOBAL_TABLE, PLACED_COLUMNS, placedSetup, seedRows, TABLES, TENANT_TABLES, tenantA, tenantB, tenantC,
  type Column, type TableName,
} from '../../../postgres/test/fuzz/schema.ts'

export const MODELS: readonly IsolationModelName[] = ['shared', 'schema', 'database']
export const SHARED_ORACLE = 'oracle'
export const PLACED_ORACLE = 'oracle_placed'
const SEEDED = [tenantA, tenantB, tenantC]
const LETTERS = ['A', 'B', 'C'] as const

/** Tenants A, B and C of one model, placed and seeded. */
export type Trio = readonly [ScopedTenant, ScopedTenant, ScopedTenant]

function trio(tenants: readonly ScopedTenant[]): Trio {
  const [a, b, c] = tenants
  if (a === undefined || b === undefined || c === undefined) throw new Error('a trio needs three tenants')
  return [a, b, c]
}

/** Region name → md5 of its rows: `shared A`, `schema B`, `database C`, `shared labels`, `oracle`, … */
export type Fingerprint = ReadonlyMap<string, string>

const literal = (value: unknown): string =>
  value === null ? 'null' : typeof value === 'string' ? pg.escapeLiteral(value) : String(value)

/** `insert into table (…) values …` with the rows as literals: one string, run with others in one round trip. */
function insertStatement(table: string, columns: readonly Column[], rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return ''
  const names = columns.map((c) => c.name)
  return `insert into ${table} (${names.join(', ')}) values ${rows.map((row) => `(${names.map((n) => literal(row[n])).join(', ')})`).join(', ')};`
}

const SEED = seedRows()
const ownRows = (table: TableName, tenant: ScopedTenant | undefined) => (table === GLOBAL_TABLE ? SEED[table] : SEED[table].filter((r) => r.tenant_id === tenant?.id))

/** Deletes and re-inserts the seed rows of `tables` (tenant tables: `tenant`'s, or every tenant's when undefined). */
function reseed(qualify: (table: TableName) => string, tables: readonly TableName[], columns: Readonly<Record<TableName, readonly Column[]>>, tenant: ScopedTenant | 'all'): string {
  return tables.map((table) => {
    const shared = columns[table].some((c) => c.name === 'tenant_id')
    const filter = shared && tenant !== 'all' ? ` where tenant_id = ${literal(tenant.id)}` : ''
    const rows = tenant === 'all' || table === GLOBAL_TABLE ? SEED[table] : ownRows(table, tenant)
    // DELETE, not TRUNCATE: a truncated table loses the planner's size estimate.
    return `delete from ${qualify(table)}${filter}; ${insertStatement(qualify(table), columns[table], rows)}`
  }).join('\n')
}

/** One region's rows as `select region, line` (line: `table (row as text)`). */
const regionLines = (region: string, from: (table: TableName) => string, tables: readonly TableName[] = TABLES) =>
  tables.map((t) => `select ${literal(region)} as region, '${t} ' || r::text as line from ${from(t)} r`)

const digestOf = (lines: readonly string[]) =>
  `select region, md5(string_agg(line, '|' order by line)) as digest from (${lines.join(' union all ')}) s group by region`

/** The fuzz world on one test database (see the file comment). */
export class FuzzWorld {
  readonly database: TestDatabase
  readonly models: TestModels | undefined
  /** A, B and C of each model (the shared ones when there are no placed models). */
  readonly tenants: Readonly<Partial<Record<IsolationModelName, Trio>>>
  readonly #role: string
  /** The negative control's shared model, closed with the world. */
  #scratchModel: SharedSchemaIsolation | undefined
  #baseline: Fingerprint = new Map()

  private constructor(database: TestDatabase, models: TestModels | undefined, tenants: Partial<Record<IsolationModelName, Trio>>, role: string) {
    this.database = database
    this.models = models
    this.tenants = tenants
    this.#role = role
  }

  /** Every model, the seeded tenants placed in each (the leak-fuzz-models world), the oracles taking B's tenant id by default. */
  static async open(backend: TestBackend): Promise<FuzzWorld> {
    const database = await backend.createDatabase()
    const role = uniqueName('tenantry_dz')
    await createFuzzWorld(database.pool)
    await createPlacedOracle(database.pool, PLACED_ORACLE)
    await FuzzWorld.#oracleDefaults(database)
    let template: Blob | undefined
    if (backend.name === 'pglite') {
      const blank = await PGlite.create()
      template = await blank.dumpDataDir('none')
      await blank.close()
    }
    const models = await openModels(backend, database, {
      role, shared: { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE] }, ...(template ? { pgliteTemplate: async () => template } : {}),
    })
    const tenants: Record<IsolationModelName, ScopedTenant[]> = { shared: [], schema: [], database: [] }
    for (const tenant of SEEDED) {
      tenants.shared.push({ ...tenant, isolation: 'shared' })
      const inSchema = { ...tenant, isolation: 'schema' as const }
      tenants.schema.push({ ...inSchema, placement: await models.schemas.provision(inSchema, placedSetup(tenant)) })
      // Database names are cluster-wide on a server: unique per run.
      const inDatabase = { ...tenant, isolation: 'database' as const, placement: { database: uniqueName(`tenantry_dfuzz_${tenant.slug.slice(-1)}`) } }
      tenants.database.push({ ...inDatabase, placement: await models.databases.provision(inDatabase, placedSetup(tenant)) })
    }
    const world = new FuzzWorld(database, models, { shared: trio(tenants.shared), schema: trio(tenants.schema), database: trio(tenants.database) }, role)
    world.#baseline = await world.fingerprint()
    return world
  }

  /**
   * The shared world alone, on a scratch database, with the shared model
   * installed and then `breach` run as the owner: the negative control's world.
   */
  static async scratch(backend: TestBackend, breach: string): Promise<{ world: FuzzWorld; shared: SharedSchemaIsolation }> {
    const database = await backend.createDatabase()
    const role = uniqueName('tenantry_dzb')
    await createFuzzWorld(database.pool)
    await FuzzWorld.#oracleDefaults(database)
    const shared = new SharedSchemaIsolation(database, { tables: [...TENANT_TABLES], globalTables: [GLOBAL_TABLE], runtimeRole: role })
    await shared.install()
    await database.pool.query(breach)
    const world = new FuzzWorld(database, undefined, { shared: trio(SEEDED.map((t) => ({ ...t, isolation: 'shared' as const }))) }, role)
    world.#scratchModel = shared
    world.#baseline = await world.fingerprint()
    return { world, shared }
  }

  /** B's INSERTs on the oracle's copy leave tenant_id out, as on the scoped side: B's id is its default. */
  static async #oracleDefaults(database: TestDatabase): Promise<void> {
    await database.pool.query(TENANT_TABLES.map((t) => `alter table ${SHARED_ORACLE}.${t} alter column tenant_id set default ${literal(tenantB.id)};`).join('\n'))
  }

  get #router(): PoolRouter | undefined {
    return this.models?.router
  }

  #schemaOf(tenant: ScopedTenant): string {
    return pg.escapeIdentifier(String(tenant.placement?.schema))
  }

  /** Every region's digest: the main database's in one query, each tenant database's in one more. */
  async fingerprint(): Promise<Fingerprint> {
    const shared = TENANT_TABLES.map((t) =>
      `select case tenant_id ${SEEDED.map((s, i) => `when ${literal(s.id)} then 'shared ${LETTERS[i]}'`).join(' ')} else 'shared other' end as region, '${t} ' || r::text as line from public.${t} r`)
    const lines = [
      ...shared,
      ...regionLines('shared labels', (t) => `public.${t}`, [GLOBAL_TABLE]),
      ...regionLines('oracle', (t) => `${SHARED_ORACLE}.${t}`),
      ...(this.tenants.schema ? regionLines('oracle placed', (t) => `${PLACED_ORACLE}.${t}`) : []),
      ...(this.tenants.schema ?? []).flatMap((tenant, i) => regionLines(`schema ${LETTERS[i]}`, (t) => `${this.#schemaOf(tenant)}.${t}`)),
    ]
    const found = new Map<string, string>()
    const main = await this.database.pool.query<{ region: string; digest: string }>(digestOf(lines))
    for (const row of main.rows) found.set(row.region, row.digest)
    const router = this.#router
    for (const [i, tenant] of (this.tenants.database ?? []).entries()) {
      const rows = await router!.withClient(tenant.placement as DatabaseKey, (c) => c.query<{ region: string; digest: string }>(digestOf(regionLines(`database ${LETTERS[i]}`, (t) => t))))
      for (const row of rows.rows) found.set(row.region, row.digest)
    }
    return found
  }

  /** The regions whose digest differs from the start's, but for those named in `except`. */
  async changedSince(except: readonly string[] = []): Promise<string[]> {
    const now = await this.fingerprint()
    const names = new Set([...this.#baseline.keys(), ...now.keys()])
    return [...names].filter((n) => !except.includes(n) && this.#baseline.get(n) !== now.get(n)).sort()
  }

  /** B's rows in `model` and the model's oracle copy, back to the seed. */
  async restore(model: IsolationModelName): Promise<void> {
    const b = this.tenants[model]?.[1]
    if (b === undefined) throw new Error(`no ${model} tenants in this world`)
    if (model === 'shared') {
      await this.database.pool.query(`${reseed((t) => `public.${t}`, TENANT_TABLES, COLUMNS, b)}\n${reseed((t) => `${SHARED_ORACLE}.${t}`, TENANT_TABLES, COLUMNS, b)}`)
      return
    }
    const oracle = reseed((t) => `${PLACED_ORACLE}.${t}`, TENANT_TABLES, PLACED_COLUMNS, b)
    if (model === 'schema') {
      await this.database.pool.query(`${reseed((t) => `${this.#schemaOf(b)}.${t}`, TENANT_TABLES, PLACED_COLUMNS, b)}\n${oracle}`)
      return
    }
    await this.#router!.withClient(b.placement as DatabaseKey, (c) => c.query(reseed((t) => t, TENANT_TABLES, PLACED_COLUMNS, b)))
    await this.database.pool.query(oracle)
  }

  /** Every region back to the seed: after a write that reached another tenant, so that what follows starts clean. */
  async restoreAll(): Promise<void> {
    const main = [
      reseed((t) => `public.${t}`, TABLES, COLUMNS, 'all'),
      reseed((t) => `${SHARED_ORACLE}.${t}`, TABLES, COLUMNS, tenantB),
      ...(this.tenants.schema ? [reseed((t) => `${PLACED_ORACLE}.${t}`, TABLES, PLACED_COLUMNS, tenantB)] : []),
      ...(this.tenants.schema ?? []).map((tenant, i) => reseed((t) => `${this.#schemaOf(tenant)}.${t}`, TABLES, PLACED_COLUMNS, SEEDED[i]!)),
    ]
    await this.database.pool.query(main.join('\n'))
    for (const [i, tenant] of (this.tenants.database ?? []).entries()) {
      await this.#router!.withClient(tenant.placement as DatabaseKey, (c) => c.query(reseed((t) => t, TABLES, PLACED_COLUMNS, SEEDED[i]!)))
    }
  }

  async close(): Promise<void> {
    for (const tenant of this.tenants.database ?? []) await this.models?.databases.deprovision(tenant).catch(() => undefined)
    await this.models?.close()
    await this.#scratchModel?.close()
    await dropRoles(this.database, [this.#role])
    await this.database.close()
  }
}

/** The region of B's rows in `model`, and its oracle copy: what B's committed writes may change (until restored). */
export function ownRegions(model: IsolationModelName): string[] {
  return [`${model} B`, model === 'shared' ? 'oracle' : 'oracle placed']
}
