import { runWithTenant, type IsolationModelName } from '@tenantry/core'
import type { TenantCatalog } from '@tenantry/postgres'
import type { Tenantry } from 'tenantry'
import { Projects } from '../data/projects.ts'
import type { SaasDatabase } from '../data/schema.ts'
import { Tasks } from '../data/tasks.ts'

/** The three demo tenants (docs/reference-saas.md), one per isolation model. */
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
 * const created = await seedDemoTenants(tenantry)   // ['acme', 'globex', 'initech'] the first time
 */
export async function seedDemoTenants(tenantry: Pick<Tenantry<SaasDatabase>, 'catalog' | 'db' | 'tenants'>): Promise<string[]> {
  if (!(await neverHadTenants(tenantry.catalog))) return []
  const projects = new Projects(tenantry.db)
  const tasks = new Tasks(tenantry.db)
  for (const demo of demoTenants) {
    const tenant = await tenantry.tenants.create({ slug: demo.slug, name: demo.name, isolation: demo.isolation })
    await runWithTenant(tenant, async () => {
      const project = await projects.create({ name: demo.project })
      for (const title of demo.tasks) await tasks.create(project.id, { title })
    })
  }
  return demoTenants.map((d) => d.slug)
}
