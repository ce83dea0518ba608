/**
 * Two tenants' overlapping data in shared tables, with cross-tenant references
 * (a globex task pointing at a project only acme has), plus an oracle: per tenant,
 * a schema holding a copy of only that tenant's rows. A scoped query must return
 * what the same query returns, unscoped, on the tenant's copy.
 */
import { sql, type Kysely, type Transaction } from 'kysely'
import type { ScopedTenant } from '@tenantry/core'
import { acme, globex, type DB } from './schema.ts'

export const tenants = [acme, globex] as const
export const dataTables = ['projects', 'tasks', 'comments', 'users'] as const

const A = acme.id
const B = globex.id

export async function createTenantData(db: Kysely<DB>): Promise<void> {
  await sql`
    create sequence comment_ids start 1000;
    create table projects (tenant_id uuid not null, id int not null, name text not null, code text unique, owner_id int, primary key (tenant_id, id));
    create table tasks (tenant_id uuid not null, id int not null, project_id int, title text not null, status text not null default 'todo', primary key (tenant_id, id));
    create table comments (tenant_id uuid not null, id int not null default nextval('comment_ids'), task_id int, reply_to int, body text not null default '', primary key (tenant_id, id));
    create table users (id int primary key, name text not null);
  `.execute(db)
  await db.insertInto('users').values([{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }, { id: 3, name: 'cy' }]).execute()
  await db
    .insertInto('projects')
    .values([
      { tenant_id: A, id: 1, name: 'Apollo', code: 'A-1', owner_id: 1 },
      { tenant_id: A, id: 2, name: 'Borealis', code: 'A-2', owner_id: 2 },
      { tenant_id: A, id: 3, name: 'Cosmos', code: 'A-3', owner_id: null },
      { tenant_id: B, id: 1, name: 'Apollo', code: 'B-1', owner_id: 1 },
      { tenant_id: B, id: 2, name: 'Zephyr', code: 'B-2', owner_id: 3 },
    ])
    .execute()
  await db
    .insertInto('tasks')
    .values([
      { tenant_id: A, id: 1, project_id: 1, title: 'design', status: 'todo' },
      { tenant_id: A, id: 2, project_id: 1, title: 'build', status: 'done' },
      { tenant_id: A, id: 3, project_id: 2, title: 'ship', status: 'todo' },
      { tenant_id: A, id: 4, project_id: null, title: 'orphan', status: 'todo' },
      { tenant_id: A, id: 5, project_id: 9, title: 'dangling', status: 'done' },
      { tenant_id: B, id: 1, project_id: 1, title: 'plan', status: 'todo' },
      { tenant_id: B, id: 2, project_id: 3, title: 'cross', status: 'todo' }, // project 3 is acme's only
      { tenant_id: B, id: 3, project_id: 2, title: 'test', status: 'done' },
      { tenant_id: B, id: 6, project_id: null, title: 'loose', status: 'done' },
    ])
    .execute()
  await db
    .insertInto('comments')
    .values([
      { tenant_id: A, id: 1, task_id: 1, reply_to: null, body: 'first' },
      { tenant_id: A, id: 2, task_id: 1, reply_to: 1, body: 'reply' },
      { tenant_id: A, id: 3, task_id: 2, reply_to: 2, body: 'reply again' },
      { tenant_id: A, id: 4, task_id: null, reply_to: null, body: 'note' },
      { tenant_id: B, id: 1, task_id: 1, reply_to: null, body: 'b first' },
      { tenant_id: B, id: 2, task_id: 2, reply_to: 1, body: 'b reply' },
      { tenant_id: B, id: 5, task_id: 5, reply_to: null, body: 'b on acme task' }, // task 5 is acme's only
      { tenant_id: B, id: 6, task_id: 1, reply_to: 3, body: 'b reply to acme' }, // comment 3 is acme's only
    ])
    .execute()
  for (const tenant of tenants) {
    const schema = oracleSchema(tenant)
    await sql`create schema ${sql.id(schema)}`.execute(db)
    for (const table of dataTables) {
      await sql`create table ${sql.table(`${schema}.${table}`)} (like ${sql.table(table)} including all)`.execute(db)
      const copy = table === 'users' ? sql`` : sql`where tenant_id = ${sql.lit(tenant.id)}`
      await sql`insert into ${sql.table(`${schema}.${table}`)} select * from ${sql.table(table)} ${copy}`.execute(db)
      if (table !== 'users') {
        await sql`alter table ${sql.table(`${schema}.${table}`)} alter column tenant_id set default ${sql.lit(tenant.id)}`.execute(db)
      }
    }
  }
}

/** The schema holding only `tenant`'s rows. */
export function oracleSchema(tenant: ScopedTenant): string {
  return `oracle_${tenant.slug}`
}

/** Runs `fn` in a transaction that is always rolled back, and returns its result. */
export async function rolledBack<T>(db: Kysely<DB>, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const rollback = Symbol('rollback')
  let result: { value: T } | undefined
  try {
    await db.transaction().execute(async (trx) => {
      result = { value: await fn(trx) }
      throw rollback
    })
  } catch (error) {
    if (error !== rollback) throw error
  }
  if (result === undefined) throw new Error('the transaction body did not finish')
  return result.value
}

/** Every row of the tenant tables, by table, in the given schema and for the given tenant. */
export type Snapshot = Record<string, unknown[]>

export async function snapshot(db: Kysely<DB>, schema: string, tenant: ScopedTenant): Promise<Snapshot> {
  const out: Snapshot = {}
  for (const table of dataTables) {
    if (table === 'users') continue
    const { rows } = await sql`select * from ${sql.table(`${schema}.${table}`)} where tenant_id = ${tenant.id} order by id`.execute(db)
    out[table] = rows
  }
  return out
}

/** Asserts nothing else than `tenant`'s rows (or nulls of outer joins) came back. */
export function foreignTenantIds(rows: readonly object[], tenant: ScopedTenant): unknown[] {
  return rows.flatMap((row) =>
    Object.entries(row)
      .filter(([key, value]) => key.endsWith('tenant_id') && value !== null && value !== tenant.id)
      .map(([, value]) => value),
  )
}
