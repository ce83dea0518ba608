import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
  type Generated,
  type KyselyPlugin,
} from 'kysely'
import type { ScopedTenant } from '@tenantry/core'

/** Two active tenants with overlapping data, and one that may not serve. */
export const acme: ScopedTenant = { id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', slug: 'acme', status: 'active' }
export const globex: ScopedTenant = { id: 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', slug: 'globex', status: 'active' }
export const suspended: ScopedTenant = { id: 'cccccccc-cccc-4ccc-8ccc-cccccccccccc', slug: 'initech', status: 'suspended' }

/** The tenant tables of the tests; `users` is global. */
export const tenantTables = ['projects', 'tasks', 'comments'] as const

// tenant_id is Generated: the plugin sets it, so inserts may leave it out.
export interface ProjectTable {
  id: number
  tenant_id: Generated<string>
  name: string
  code: string | null
  owner_id: number | null
}
export interface TaskTable {
  id: number
  tenant_id: Generated<string>
  project_id: number | null
  title: string
  status: Generated<string>
}
export interface CommentTable {
  id: number
  tenant_id: Generated<string>
  task_id: number | null
  reply_to: number | null
  body: string
}
export interface UserTable {
  id: number
  name: string
}
export interface DB {
  projects: ProjectTable
  'public.projects': ProjectTable
  tasks: TaskTable
  comments: CommentTable
  users: UserTable
}

/** A Kysely instance that compiles PostgreSQL without a database. */
export function compilingDb(...plugins: KyselyPlugin[]): Kysely<DB> {
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    plugins,
  })
}

/** The SQL and parameters of a query. */
export function sqlOf(query: Compilable): { sql: string; parameters: readonly unknown[] } {
  const { sql, parameters } = query.compile()
  return { sql, parameters }
}

/** `n` copies of a tenant's id: the parameters the plugin adds. */
export function ids(tenant: ScopedTenant, n: number): string[] {
  return Array.from({ length: n }, () => tenant.id)
}
