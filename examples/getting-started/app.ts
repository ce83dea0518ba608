// Two tenants, one table: each sees only its own rows.
// npx tsx app.ts   (embedded PGlite in ./.tenantry; set DATABASE_URL and REDIS_URL for servers)
import { createTenantry, isTenantryError, runWithTenant } from 'tenantry'
import type { Database } from './database.js'
import config from './tenantry.config.js'

const tenantry = await createTenantry<Database>(config)
const { db, tenants } = tenantry
try {
  const acme = await tenants.create({ slug: 'acme', name: 'Acme' })                             // in the shared tables
  const globex = await tenants.create({ slug: 'globex', name: 'Globex', isolation: 'schema' })  // in a schema of its own

  await runWithTenant(acme, () => db.insertInto('projects').values([{ name: 'Rocket skates' }, { name: 'Giant magnet' }]).execute())
  await runWithTenant(globex, () => db.insertInto('projects').values({ name: 'Doomsday device' }).execute())

  // The same query for both tenants: Tenantry sends it where each one lives, scoped to it.
  for (const tenant of [acme, globex]) {
    const projects = await runWithTenant(tenant, () => db.selectFrom('projects').select('name').orderBy('name').execute())
    console.log(`${tenant.slug} (${tenant.isolation}) sees: ${projects.map((p) => p.name).join(', ')}`)
  }
  const query = runWithTenant(acme, () => db.selectFrom('projects').select('name').compile())
  console.log(`acme's query: ${query.sql}`)

  // No tenant in context: refused, never run unscoped.
  await db.selectFrom('projects').selectAll().execute().catch((error: unknown) => {
    console.log(`no tenant: refused with ${isTenantryError(error) ? error.code : String(error)}`)
  })

  // Offboarding purges a tenant's rows (or drops its schema) and frees its slug: run the example again.
  await tenants.offboard('acme')
  await tenants.offboard('globex')
} finally {
  await tenantry.close()
}
