/**
 * Two tenants, one table, embedded PGlite: `npm run example`.
 * Shows the tenant context, both walls of the shared model, doctor, and what is refused.
 */
import { PGlite } from '@electric-sql/pglite'
import { isTenantryError, runAsSystem, runWithTenant } from '@tenantry/core'
import { SharedSchemaIsolation, TenantCatalog } from '@tenantry/postgres'
import { pgliteTarget } from '@tenantry/postgres/pglite'
import { sql, type Generated } from 'kysely'

interface Database {
  // tenant_id is Generated: Tenantry fills it in on every insert.
  projects: { id: Generated<string>; tenant_id: Generated<string>; name: string }
}

const lite = await PGlite.create()
const target = pgliteTarget(lite)
try {
  const catalog = new TenantCatalog(target)
  await catalog.install()
  const acme = await catalog.create({ slug: 'acme', name: 'Acme Corp' })
  const globex = await catalog.create({ slug: 'globex', name: 'Globex' })

  await target.pool.query(`
    create table projects (id uuid primary key default gen_random_uuid(), tenant_id uuid not null, name text not null);
    create index on projects (tenant_id);`)
  const shared = new SharedSchemaIsolation(target, { tables: ['projects'] })
  await shared.install()
  const report = await shared.assertSafe()
  console.log(`doctor: ok (${report.findings.length} warning(s): ${report.findings.map((f) => f.check).join(', ') || 'none'})`)

  const db = shared.kysely<Database>()
  await runWithTenant(acme, () => db.insertInto('projects').values([{ name: 'Rocket skates' }, { name: 'Giant magnet' }]).execute())
  await runWithTenant(globex, () => db.insertInto('projects').values({ name: 'Doomsday device' }).execute())

  for (const tenant of [acme, globex]) {
    const rows = await runWithTenant(tenant, () => db.selectFrom('projects').select('name').orderBy('name').execute())
    console.log(`${tenant.slug} sees: ${rows.map((r) => r.name).join(', ')}`)
  }

  const compiled = runWithTenant(acme, () => db.selectFrom('projects').selectAll().compile())
  console.log(`SQL sent for acme: ${compiled.sql}  params: ${JSON.stringify(compiled.parameters)}`)

  const attempts: [string, () => Promise<unknown>][] = [
    ['query with no tenant', () => db.selectFrom('projects').selectAll().execute()],
    ['raw SQL in a tenant scope', () => runWithTenant(acme, () => sql`select * from projects`.execute(db))],
    ['insert naming another tenant', () => runWithTenant(acme, () => db.insertInto('projects').values({ name: 'x', tenant_id: globex.id }).execute())],
    ['acme query run for globex', () => runWithTenant(globex, () => db.executeQuery(compiled))],
  ]
  for (const [label, attempt] of attempts) {
    try {
      await attempt()
      console.log(`${label}: allowed (unexpected!)`)
      process.exitCode = 1
    } catch (error) {
      console.log(`${label}: refused with ${isTenantryError(error) ? error.code : String(error)}`)
    }
  }

  const total = await runAsSystem('example: count all projects', () => db.selectFrom('projects').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow())
  console.log(`system scope (audited) counts ${total.n} projects across tenants`)
} finally {
  await target.pool.end()
  await lite.close()
}
