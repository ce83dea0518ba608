import type { IsolationModelName } from '@tenantry/core'
import type { TenantCatalog } from '@tenantry/postgres'
import { Projects } from '../data/projects.ts'
import { Tasks } from '../data/tasks.ts'
import type { SaasBackend } from '../backend/index.ts'
import type { TenantAdministration } from './administration.ts'

/** The three demo tenants of DESIGN §4, one per isolation model. */
export const demoTenants: readonly { slug: string; name: string; isolation: IsolationModelName; project: string; tasks: string[] }[] = [
  { slug: 'acme', name: 'Acme Corp', isolation: 'shared', project: 'Rocket skates', tasks: ['Order more rockets', 'Test on the canyon road'] },
  { slug: 'globex', name: 'Globex Corporation', isolation: 'schema', project: 'Doomsday device', tasks: ['Find a volcano', 'Hire henchmen'] },
  { slug: 'initech', name: 'Initech', isolation: 'database', project: 'TPS reports', tasks: ['Add the new cover sheet', 'Fix the printer'] },
]

/** True when the catalog has never held a tenant (deleted ones count). */
async function neverHadTenants(catalog: TenantCatalog): Promise<boolean> {
  const [live, deleted] = await Promise.all([catalog.list({ limit: 1 }), catalog.list({ status: 'deleted', limit: 1 })])
  return live.items.length === 0 && deleted.items.length === 0
}

/**
 * On the very first start (a catalog that has never had a tenant), creates acme
 * (shared), globex (schema) and initech (database), each with one project and two
 * tasks. Later starts change nothing, even if the demo tenants were deleted.
 * Returns the slugs it created.
 *
 * @example
 * const created = await seedDemoTenants(backend, admin)   // ['acme', 'globex', 'initech'] the first time
 */
export async function seedDemoTenants(backend: Pick<SaasBackend, 'catalog' | 'db'>, admin: TenantAdministration): Promise<string[]> {
  if (!(await neverHadTenants(backend.catalog))) return []
  const projects = new Projects(backend.db)
  const tasks = new Tasks(backend.db)
  for (const demo of demoTenants) {
    await admin.create({ slug: demo.slug, name: demo.name, isolation: demo.isolation })
    await admin.asTenant(demo.slug, async () => {
      const project = await projects.create({ name: demo.project })
      for (const title of demo.tasks) await tasks.create(project.id, { title })
    })
  }
  return demoTenants.map((d) => d.slug)
}
