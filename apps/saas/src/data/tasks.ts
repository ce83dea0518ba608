import { TenantryError } from '@tenantry/core'
import type { Kysely } from 'kysely'
import { pageOf, type Page } from './pages.ts'
import { projectNotFound, type PageQuery } from './projects.ts'
import type { SaasDatabase, TaskRow, TaskStatus } from './schema.ts'

/** A task as the API shows it. */
export interface Task {
  readonly id: string
  readonly project_id: string
  readonly title: string
  readonly status: TaskStatus
  readonly created_at: string
}

const columns = ['id', 'project_id', 'title', 'status', 'created_at'] as const

export function taskOf(row: TaskRow): Task {
  return { id: row.id, project_id: row.project_id, title: row.title, status: row.status, created_at: row.created_at.toISOString() }
}

function taskNotFound(id: string): TenantryError {
  return new TenantryError('NOT_FOUND', `No task ${id}`)
}

/** PostgreSQL's foreign_key_violation: the project went away between the check and the insert. */
function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23503'
}

/**
 * The tasks of the current tenant's projects.
 *
 * @example
 * const tasks = new Tasks(db)
 * await runWithTenant(acme, () => tasks.create(projectId, { title: 'Ship it' }))
 */
export class Tasks {
  readonly #db: Kysely<SaasDatabase>

  constructor(db: Kysely<SaasDatabase>) {
    this.#db = db
  }

  /** A page of the project's tasks; NOT_FOUND when the tenant has no such project. */
  async list(projectId: string, query: PageQuery): Promise<Page<Task>> {
    return this.#db.transaction().execute(async (trx) => {
      const project = await trx.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
      if (project === undefined) throw projectNotFound(projectId)
      let select = trx.selectFrom('tasks').select(columns).where('project_id', '=', projectId)
      const { cursor } = query
      if (cursor !== undefined) {
        select = select.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(cursor.createdAt, cursor.id)))
      }
      const rows = await select.orderBy('created_at').orderBy('id').limit(query.limit + 1).execute()
      return pageOf(rows, query.limit, taskOf)
    })
  }

  /** Adds a task to one of the tenant's projects; NOT_FOUND when it has no such project. */
  async create(projectId: string, input: { title: string; status?: TaskStatus | undefined }): Promise<Task> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // In the shared model the composite foreign key refuses another tenant's
        // project as well; this check gives the same NOT_FOUND in every model.
        const project = await trx.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst()
        if (project === undefined) throw projectNotFound(projectId)
        const values = input.status === undefined ? { project_id: projectId, title: input.title } : { project_id: projectId, title: input.title, status: input.status }
        return taskOf(await trx.insertInto('tasks').values(values).returning(columns).executeTakeFirstOrThrow())
      })
    } catch (error) {
      if (isForeignKeyViolation(error)) throw projectNotFound(projectId)
      throw error
    }
  }

  async update(id: string, patch: { title?: string | undefined; status?: TaskStatus | undefined }): Promise<Task> {
    const set: { title?: string; status?: TaskStatus } = {}
    if (patch.title !== undefined) set.title = patch.title
    if (patch.status !== undefined) set.status = patch.status
    const row = await this.#db.updateTable('tasks').set(set).where('id', '=', id).returning(columns).executeTakeFirst()
    if (row === undefined) throw taskNotFound(id)
    return taskOf(row)
  }

  async delete(id: string): Promise<void> {
    const deleted = await this.#db.deleteFrom('tasks').where('id', '=', id).executeTakeFirst()
    if (deleted.numDeletedRows === 0n) throw taskNotFound(id)
  }
}
