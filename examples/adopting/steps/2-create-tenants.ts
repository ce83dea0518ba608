// One Tenantry tenant per account, recorded on the account; safe to run again.
// install: false: the catalog only, no walls on projects and tasks yet (the old app still runs).
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { createTenantry } from 'tenantry'
import type { Database } from '../after/database.js'

const control = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }) })
const tenantry = await createTenantry({
  database: process.env.DATABASE_URL!,
  models: { shared: { tables: ['projects', 'tasks'] } },
  install: false,
  migrate: false,
  doctor: 'off',
})
await tenantry.catalog.install()
const accounts = await control.selectFrom('accounts').select(['id', 'name']).where('tenant_id', 'is', null).orderBy('id').execute()
for (const account of accounts) {
  const slug = `account-${account.id}`
  const tenant = (await tenantry.catalog.getBySlug(slug)) ?? (await tenantry.tenants.create({ slug, name: account.name }))
  await control.updateTable('accounts').set({ tenant_id: tenant.id }).where('id', '=', account.id).execute()
}
console.log(`${accounts.length} tenants created`)
await tenantry.close()
await control.destroy()
