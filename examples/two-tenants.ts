/**
 * Two tenants, one table, embedded PGlite: `npm run example`.
 * Shows the tenant context, both walls of the shared model, doctor, and what is refused.
 */
import { isTenantryError } from '@tenantry/core'
import { sql, type Generated } from 'kysely'
import { createTenantry, runAsSystem, runWithTenant } from 'tenantry'

interface Database {
  // tenant_id is Generated: Tenantry fills it in on every insert.
  projects: { id: Generated<string>; tenant_id: Generated<string>; name: string }
}

const tenantry = await createTenantry<Database>({
  database: { embedded: 'memory' },
  models: { shared: { tables: ['projects'] } },
  migrations: {
    tenant: [{
      id: '0001_projects',
      up: 'create table projects (id uuid primary key default gen_random_uuid(), tenant_id uuid not null, name text not null); create index on projects (tenant_id)',
    }],
  },
})
try {
  const report = await tenantry.doctor()
  console.log(`doctor: ${report.ok ? 'ok' : 'REFUSED'} (${report.findings.length} warning(s): ${report.findings.map((f) => f.check).join(', ') || 'none'})`)
  const acme = await tenantry.tenants.create({ slug: 'acme', name: 'Acme Corp' })
  const globex = await tenantry.tenants.create({ slug: 'globex', name: 'Globex' })
  const db = tenantry.db

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
  await tenantry.close()
}
