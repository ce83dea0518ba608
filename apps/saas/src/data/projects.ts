import { TenantryError } from '@tenantry/core'
import type { Kysely } from 'kysely'
import type { Cursor } from './cursor.ts'
import { pageOf, type Page } from './pages.ts'
import type { ProjectRow, SaasDatabase } from './schema.ts'

/** A project as the API shows it. */
export interface Project {
  readonly id: string
  readonly name: string
  readonly created_at: string
}

/** Which page of a list to read. */
export interface PageQuery {
  readonly limit: number
  readonly cursor?: Cursor | undefined
}

export function projectOf(row: ProjectRow): Project {
  return { id: row.id, name: row.name, created_at: row.created_at.toISOString() }
}

/** Another tenant's row and a missing row give the same answer, by design. */
export function projectNotFound(id: string): TenantryError {
  return new TenantryError('NOT_FOUND', `No project ${id}`)
}

/**
 * The tenant's projects, in the order they were created. Every query here runs
 * on the scoped Kysely instance inside the request's tenant context, so it only
 * ever sees the current tenant's rows, whatever the tenant's isolation model.
 *
 * @example
 * const projects = new Projects(db)
 * const page = await runWithTenant(acme, () => projects.list({ limit: 20 }))
 */
export class Projects {
  readonly #db: Kysely<SaasDatabase>

  constructor(db: Kysely<SaasDatabase>) {
    this.#db = db
  }

  async list(query: PageQuery): Promise<Page<Project>> {
    let select = this.#db.selectFrom('projects').select(['id', 'name', 'created_at'])
    const { cursor } = query
    if (cursor !== undefined) {
      select = select.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(cursor.createdAt, cursor.id)))
    }
    const rows = await select.orderBy('created_at').orderBy('id').limit(query.limit + 1).execute()
    return pageOf(rows, query.limit, projectOf)
  }

  async create(input: { name: string }): Promise<Project> {
    const row = await this.#db.insertInto('projects').values({ name: input.name }).returning(['id', 'name', 'created_at']).executeTakeFirstOrThrow()
    return projectOf(row)
  }

  /** The project, or NOT_FOUND. */
  async get(id: string): Promise<Project> {
    const row = await this.#db.selectFrom('projects').select(['id', 'name', 'created_at']).where('id', '=', id).executeTakeFirst()
    if (row === undefined) throw projectNotFound(id)
    return projectOf(row)
  }

  /** True when the tenant has this project. */
  async exists(id: string): Promise<boolean> {
    const row = await this.#db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst()
    return row !== undefined
  }

  async rename(id: string, name: string): Promise<Project> {
    const row = await this.#db.updateTable('projects').set({ name }).where('id', '=', id).returning(['id', 'name', 'created_at']).executeTakeFirst()
    if (row === undefined) throw projectNotFound(id)
    return projectOf(row)
  }

  /** Deletes the project and its tasks in one transaction, or NOT_FOUND. */
  async delete(id: string): Promise<void> {
    const deleted = await this.#db.transaction().execute(async (trx) => {
      // The foreign key cascades too; deleting the tasks first keeps this correct
      // even where a model's tables were made without the cascade.
      await trx.deleteFrom('tasks').where('project_id', '=', id).execute()
      return trx.deleteFrom('projects').where('id', '=', id).executeTakeFirst()
    })
    if (deleted.numDeletedRows === 0n) throw projectNotFound(id)
  }

  /** How many projects and tasks the tenant has (one statement, so one snapshot). */
  async stats(): Promise<{ projects: number; tasks: number }> {
    const row = await this.#db
      .selectNoFrom((eb) => [
        eb.selectFrom('projects').select((e) => e.fn.countAll<string>().as('n')).as('projects'),
        eb.selectFrom('tasks').select((e) => e.fn.countAll<string>().as('n')).as('tasks'),
      ])
      .executeTakeFirstOrThrow()
    return { projects: Number(row.projects), tasks: Number(row.tasks) }
  }
}
