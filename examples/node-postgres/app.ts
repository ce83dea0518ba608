import { createTenantry, runWithTenant } from 'tenantry'

const tenantry = await createTenantry({
  database: { embedded: 'memory' },
  models: { shared: { tables: ['projects'] }, schema: true },
  migrations: {
    tenant: [{
      id: '0001_projects',
      // Shared tables carry tenant_id; install() gives it the default tenantry_guard.tenant().
      up: async ({ client, model }) => {
        await client.query(model === 'shared'
          ? 'create table projects (tenant_id uuid not null, id int generated always as identity, name text not null, primary key (tenant_id, id))'
          : 'create table projects (id int generated always as identity primary key, name text not null)')
      },
    }],
  },
})
const pool = tenantry.pool // a pg.Pool: hand it to your code, or to an ORM built on pg

try {
  const acme = await tenantry.tenants.create({ slug: 'acme', name: 'Acme' })                         // shared model
  const globex = await tenantry.tenants.create({ slug: 'globex', name: 'Globex', isolation: 'schema' }) // its own schema

  for (const tenant of [acme, globex]) {
    await runWithTenant(tenant, async () => {
      // No tenant_id: the database fills it in (shared), or the table has none (schema).
      await pool.query('insert into projects (name) values ($1), ($2)', [`${tenant.slug} one`, `${tenant.slug} two`])

      // A transaction on a checked-out client: BEGIN … COMMIT, as with any pg.Pool.
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query('update projects set name = upper(name) where name like $1', ['% two'])
        await client.query('COMMIT')
      } finally {
        client.release()
      }

      const { rows } = await pool.query<{ name: string }>('select name from projects order by id')
      console.log(`${tenant.slug} sees: ${rows.map((r) => r.name).join(', ')}`)
    })
  }

  // Outside a tenant scope nothing runs.
  await pool.query('select * from projects').catch((error: Error & { code?: string }) => console.log(`no tenant: ${error.code}`))
} finally {
  await tenantry.close()
}
