/**
 * What the Drizzle tests stand on: one test database (PGlite or PostgreSQL)
 * with the three isolation models built by createTenantry, two tenants placed
 * in each, the same tables everywhere (the shared ones with tenant_id), and the
 * Drizzle schema of those tables.
 */
import { randomUUID } from 'node:crypto'
import { runWithTenant, type IsolationModelName, type ScopedTenant } from '@tenantry/core'
import { TenantData } from '@tenantry/postgres'
import { dropRoles, openModels, uniqueName, type TestBackend, type TestDatabase, type TestModels } from '@tenantry/test-kit'
import { relations } from 'drizzle-orm'
import { boolean, date, foreignKey, integer, numeric, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import { tenantId } from '../../src/index.ts'

export const TABLES = ['projects', 'tasks']

const tables = (tenantColumn: string, projectKey: string, taskKeys: string) => `
  create table projects (${tenantColumn}
    id int generated always as identity, name text not null, budget numeric(10, 2),
    created_at timestamptz not null default now(), primary key (${projectKey}));
  create table tasks (${tenantColumn}
    id int generated always as identity, project_id int not null, title text not null,
    done boolean not null default false, due date, ${taskKeys});
  create index on tasks (${tenantColumn === '' ? '' : 'tenant_id, '}project_id);`

/** The shared tables: tenant_id first in every key, foreign keys within a tenant. */
export const SHARED_SQL = tables('tenant_id uuid not null,', 'tenant_id, id',
  'primary key (tenant_id, id), foreign key (tenant_id, project_id) references projects (tenant_id, id) on delete cascade')

/** A schema or database tenant's tables: no tenant column. */
export const PLACED_SQL = tables('', 'id', 'primary key (id), foreign key (project_id) references projects (id) on delete cascade')

/** The shared tables in Drizzle, with the tenant column. */
export const sharedProjects = pgTable('projects', {
  tenantId: tenantId(),
  id: integer('id').generatedAlwaysAsIdentity(),
  name: text('name').notNull(),
  budget: numeric('budget', { precision: 10, scale: 2 }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })])

export const sharedTasks = pgTable('tasks', {
  tenantId: tenantId(),
  id: integer('id').generatedAlwaysAsIdentity(),
  projectId: integer('project_id').notNull(),
  title: text('title').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] }), foreignKey({ columns: [t.tenantId, t.projectId], foreignColumns: [sharedProjects.tenantId, sharedProjects.id] })])

/**
 * The same tables as code that serves tenants of every model sees them: no
 * tenant column (a shared tenant's rows get it from the database default).
 */
export const projects = pgTable('projects', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  name: text('name').notNull(),
  budget: numeric('budget', { precision: 10, scale: 2 }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
})

export const tasks = pgTable('tasks', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  projectId: integer('project_id').notNull().references(() => projects.id),
  title: text('title').notNull(),
  done: boolean('done').notNull().default(false),
  due: date('due'),
})

export const projectsRelations = relations(projects, ({ many }) => ({ tasks: many(tasks) }))
export const tasksRelations = relations(tasks, ({ one }) => ({ project: one(projects, { fields: [tasks.projectId], references: [projects.id] }) }))

export const schema = { projects, tasks, projectsRelations, tasksRelations }

export type TenantName = 'acme' | 'hooli' | 'globex' | 'umbrella' | 'initech' | 'soylent'

/** Two tenants per model: the conformance kit's A and B. */
export const TENANTS_BY_MODEL: Readonly<Record<IsolationModelName, readonly [TenantName, TenantName]>> = {
  shared: ['acme', 'hooli'],
  schema: ['globex', 'umbrella'],
  database: ['initech', 'soylent'],
}

export interface DrizzleFixture {
  readonly database: TestDatabase
  readonly models: TestModels
  /** One TenantData over the three models. */
  readonly data: TenantData
  readonly tenants: Readonly<Record<TenantName, ScopedTenant>>
  /** Every tenant, in TENANTS_BY_MODEL order. */
  readonly all: readonly ScopedTenant[]
  /** Removes every tenant's rows. */
  clear(): Promise<void>
  close(): Promise<void>
}

const createPlacedTables = async (client: pg.ClientBase): Promise<void> => {
  await client.query(PLACED_SQL)
}

export async function openDrizzleFixture(backend: TestBackend): Promise<DrizzleFixture> {
  const database = await backend.createDatabase()
  await database.pool.query(SHARED_SQL)
  const role = uniqueName('tenantry_app')
  const models = await openModels(backend, database, { role, shared: { tables: TABLES }, budget: 8 })
  const tenants = {} as Record<TenantName, ScopedTenant>
  const all: ScopedTenant[] = []
  for (const [model, names] of Object.entries(TENANTS_BY_MODEL) as [IsolationModelName, readonly TenantName[]][]) {
    for (const name of names) {
      let tenant: ScopedTenant = { id: randomUUID(), slug: `${name}-${randomUUID().slice(0, 6)}`, status: 'active', isolation: model }
      if (model === 'schema') tenant = { ...tenant, placement: await models.schemas.provision(tenant, createPlacedTables) }
      if (model === 'database') tenant = { ...tenant, placement: await models.databases.provision(tenant, createPlacedTables) }
      tenants[name] = tenant
      all.push(tenant)
    }
  }
  const data = new TenantData({ shared: models.shared!, schema: models.schemas, database: models.databases })
  const pool = data.pool()
  return {
    database, models, data, tenants, all,
    async clear() {
      for (const tenant of all) {
        await runWithTenant(tenant, async () => {
          await pool.query('delete from tasks')
          await pool.query('delete from projects')
        })
      }
    },
    async close() {
      for (const name of TENANTS_BY_MODEL.database) await models.databases.deprovision(tenants[name]).catch(() => undefined)
      await models.close()
      await dropRoles(database, [role])
      await database.close()
    },
  }
}
