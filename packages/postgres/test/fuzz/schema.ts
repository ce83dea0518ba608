/**
 * The fuzzer's world: three tenant tables and one global table, seeded for three
 * tenants with overlapping values and references that cross tenants, plus an
 * `oracle` schema holding the same tables with only tenant B's rows. For the
 * schema and database models, the same data without the tenant column: each
 * tenant's rows (and a copy of the global table) in its own placement, and an
 * oracle schema with B's.
 */
import type { ScopedTenant } from '@tenantry/core'
import type pg from 'pg'

export const tenantA: ScopedTenant = { id: 'aaaaaaaa-0000-4000-8000-00000000000a', slug: 'fuzz-a', status: 'active' }
export const tenantB: ScopedTenant = { id: 'bbbbbbbb-0000-4000-8000-00000000000b', slug: 'fuzz-b', status: 'active' }
export const tenantC: ScopedTenant = { id: 'cccccccc-0000-4000-8000-00000000000c', slug: 'fuzz-c', status: 'active' }
const tenants = [tenantA, tenantB, tenantC]

export type ColumnType = 'int' | 'text' | 'bool' | 'uuid'
export interface Column {
  readonly name: string
  readonly type: ColumnType
  readonly nullable: boolean
}

/** The reference columns, the only ones that may be NULL. */
export const COLUMNS_NULLABLE = ['project_id', 'task_id']

export const TENANT_TABLES = ['projects', 'tasks', 'comments'] as const
export const GLOBAL_TABLE = 'labels'
export const TABLES = [...TENANT_TABLES, GLOBAL_TABLE] as const
export type TableName = (typeof TABLES)[number]
export type TenantTableName = (typeof TENANT_TABLES)[number]

const col = (name: string, type: ColumnType): Column => ({ name, type, nullable: COLUMNS_NULLABLE.includes(name) })

export const COLUMNS: Readonly<Record<TableName, readonly Column[]>> = {
  projects: [col('id', 'int'), col('tenant_id', 'uuid'), col('name', 'text'), col('budget', 'int')],
  tasks: [col('id', 'int'), col('tenant_id', 'uuid'), col('project_id', 'int'), col('title', 'text'), col('points', 'int'), col('done', 'bool')],
  comments: [col('id', 'int'), col('tenant_id', 'uuid'), col('task_id', 'int'), col('body', 'text'), col('votes', 'int')],
  labels: [col('id', 'int'), col('name', 'text'), col('weight', 'int')],
}

/** The same tables for tenants placed in a schema or database of their own: no tenant column. */
export const PLACED_COLUMNS: Readonly<Record<TableName, readonly Column[]>> = {
  projects: COLUMNS.projects.filter((c) => c.name !== 'tenant_id'),
  tasks: COLUMNS.tasks.filter((c) => c.name !== 'tenant_id'),
  comments: COLUMNS.comments.filter((c) => c.name !== 'tenant_id'),
  labels: COLUMNS.labels,
}

/** The columns of the fuzz tables with or without the tenant column. */
export const columnsOf = (tenantColumn: boolean): Readonly<Record<TableName, readonly Column[]>> => (tenantColumn ? COLUMNS : PLACED_COLUMNS)

/** Literal pools: values that occur in several tenants' rows, so a missing predicate shows. */
export const LITERALS: Readonly<Record<ColumnType, readonly (string | number | boolean)[]>> = {
  int: [0, 1, 2, 3, 4, 11, 12, 101, 112, 115, 1000],
  text: ['alpha', 'beta', 'todo', 'shared', 'nope'],
  bool: [true, false],
  uuid: tenants.map((t) => t.id),
}

// Reference columns have no FOREIGN KEY: the oracle copy holds only B's rows, so it
// could not keep B's references to A's rows, and FK side effects are not the subject.
const DDL = (schema: string) => `
  create table ${schema}.projects (id int primary key, tenant_id uuid not null, name text not null, budget int not null);
  create table ${schema}.tasks (id int primary key, tenant_id uuid not null, project_id int, title text not null, points int not null, done boolean not null);
  create table ${schema}.comments (id int primary key, tenant_id uuid not null, task_id int, body text not null, votes int not null);
  create table ${schema}.labels (id int primary key, name text not null, weight int not null);
  create index on ${schema}.projects (tenant_id);
  create index on ${schema}.tasks (tenant_id);
  create index on ${schema}.comments (tenant_id);`

// A placed tenant's tables, unqualified (provisioning runs them on the tenant's
// search_path or in its database). The global table is copied into every placement:
// a schema tenant's search_path holds its own schema only.
const PLACED_DDL = `
  create table projects (id int primary key, name text not null, budget int not null);
  create table tasks (id int primary key, project_id int, title text not null, points int not null, done boolean not null);
  create table comments (id int primary key, task_id int, body text not null, votes int not null);
  create table labels (id int primary key, name text not null, weight int not null);`

type SeedRow = Record<string, string | number | boolean | null>

/** Deterministic rows: ids per tenant k are k*10+i (projects), 100+k*10+i (tasks), 200+k*10+i (comments). */
export function seedRows(): Record<TableName, SeedRow[]> {
  const rows: Record<TableName, SeedRow[]> = { projects: [], tasks: [], comments: [], labels: [] }
  const names = ['alpha', 'beta', 'gamma', 'alpha']
  const titles = ['alpha', 'todo', 'beta', 'shared', 'todo', 'x']
  const bodies = ['alpha', 'nice', 'beta', 'todo', 'shared', 'ok']
  tenants.forEach((tenant, k) => {
    const other = (k + 1) % 3 // the next tenant: A→B, B→C, C→A
    const previous = (k + 2) % 3 // B→A
    for (let i = 1; i <= 4; i++) rows.projects.push({ id: k * 10 + i, tenant_id: tenant.id, name: names[i - 1] ?? 'x', budget: i * 10 + (i === 4 ? k : 0) })
    for (let i = 1; i <= 6; i++) {
      // Task 5 points at the previous tenant's project 1, task 6 at the next tenant's, task 4 at nothing.
      const projectId = i === 4 ? null : i === 5 ? previous * 10 + 1 : i === 6 ? other * 10 + 2 : k * 10 + i
      rows.tasks.push({ id: 100 + k * 10 + i, tenant_id: tenant.id, project_id: projectId, title: titles[i - 1] ?? 'x', points: (i * 2 + k) % 5, done: (i + k) % 2 === 0 })
    }
    for (let i = 1; i <= 6; i++) {
      const taskId = i === 3 ? null : i === 5 ? 100 + previous * 10 + 1 : i === 6 ? 100 + other * 10 + 2 : 100 + k * 10 + i
      rows.comments.push({ id: 200 + k * 10 + i, tenant_id: tenant.id, task_id: taskId, body: bodies[i - 1] ?? 'x', votes: (i + k) % 4 })
    }
  })
  rows.labels.push({ id: 1, name: 'alpha', weight: 1 }, { id: 2, name: 'beta', weight: 2 }, { id: 3, name: 'todo', weight: 3 }, { id: 12, name: 'zeta', weight: 5 })
  return rows
}

/** What runs the seed statements: a pool, or the client a provisioning setup gets. */
interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>
}

async function insertRows(client: Queryable, table: string, columns: readonly Column[], rows: readonly SeedRow[]): Promise<void> {
  if (rows.length === 0) return
  const names = columns.map((c) => c.name)
  const values: unknown[] = []
  const tuples = rows.map((row) => `(${names.map((c) => `$${values.push(row[c])}`).join(', ')})`)
  await client.query(`insert into ${table} (${names.join(', ')}) values ${tuples.join(', ')}`, values)
}

/**
 * Creates and seeds the tables in `public` (all tenants) and in `oracle` (tenant
 * B's rows and the global table only). Run as the admin/owner role.
 */
export async function createFuzzWorld(pool: pg.Pool): Promise<void> {
  await pool.query(`create schema oracle; ${DDL('public')} ${DDL('oracle')}`)
  const rows = seedRows()
  for (const table of TABLES) {
    await insertRows(pool, `public.${table}`, COLUMNS[table], rows[table])
    const oracleRows = table === GLOBAL_TABLE ? rows[table] : rows[table].filter((r) => r.tenant_id === tenantB.id)
    await insertRows(pool, `oracle.${table}`, COLUMNS[table], oracleRows)
  }
  // Without statistics the planner guesses large tables, and a server with JIT
  // compiles the oracle's unfiltered joins for hundreds of milliseconds each.
  await pool.query('analyze')
}

/** The tables and rows of one placed tenant (its own rows without the tenant column, and the global table). */
async function seedPlacedTables(client: Queryable, tenant: ScopedTenant | undefined, schema = ''): Promise<void> {
  await client.query(schema === '' ? PLACED_DDL : PLACED_DDL.replaceAll('create table ', `create table ${schema}.`))
  const rows = seedRows()
  for (const table of TABLES) {
    const own = table === GLOBAL_TABLE ? rows[table] : rows[table].filter((r) => r.tenant_id === tenant?.id)
    await insertRows(client, schema === '' ? table : `${schema}.${table}`, PLACED_COLUMNS[table], own)
  }
}

/**
 * The setup a schema or database placement of `tenant` gets: the tables without the
 * tenant column, seeded with the tenant's own rows of the same overlapping data.
 */
export function placedSetup(tenant: ScopedTenant): (client: Queryable) => Promise<void> {
  return async (client) => {
    await seedPlacedTables(client, tenant)
    await client.query('analyze')
  }
}

/** The oracle of the placed models: schema `schema` with tenant B's rows only, no tenant column. */
export async function createPlacedOracle(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`create schema ${schema}`)
  await seedPlacedTables(pool, tenantB, schema)
  await pool.query('analyze')
}
