import type { Generated, Selectable } from 'kysely'

/** The statuses a task may have (the table's CHECK constraint lists the same). */
export const taskStatuses = ['todo', 'doing', 'done'] as const
export type TaskStatus = (typeof taskStatuses)[number]

/**
 * The SaaS's tables as its queries see them, in every isolation model. The
 * shared model's tables also carry `tenant_id`, which Tenantry fills in and
 * filters on; the application never names it, so it is not declared here.
 */
export interface SaasDatabase {
  projects: {
    id: Generated<string>
    name: string
    created_at: Generated<Date>
  }
  tasks: {
    id: Generated<string>
    project_id: string
    title: string
    status: Generated<TaskStatus>
    created_at: Generated<Date>
  }
}

export type ProjectRow = Selectable<SaasDatabase['projects']>
export type TaskRow = Selectable<SaasDatabase['tasks']>

/** The tenant tables of the shared model (what RLS and the plugin cover). */
export const tenantTables = ['projects', 'tasks'] as const
