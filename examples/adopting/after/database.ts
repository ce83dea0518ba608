import type { Generated } from 'kysely'

export interface Database {
  accounts: { id: Generated<number>; name: string; api_key_hash: string; tenant_id: string }
  projects: { id: Generated<number>; name: string; created_at: Generated<Date> }
  tasks: { id: Generated<number>; project_id: number; title: string; done: Generated<boolean> }
}
