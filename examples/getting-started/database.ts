import type { Generated } from 'kysely'

/**
 * The tables as the app's queries see them. The shared tables also have
 * tenant_id, which Tenantry fills in and filters on: the app never names it,
 * so it is not declared here.
 */
export interface Database {
  projects: {
    id: Generated<number>
    name: string
    archived_at: Date | null
    created_at: Generated<Date>
  }
}
