import type { MigrationContext } from 'tenantry'

// Runs once for the shared tables and once in each tenant schema.
export async function up({ client, model }: MigrationContext): Promise<void> {
  if (model === 'shared') {
    // Shared: every row names its tenant; keys and indexes lead with tenant_id.
    await client.query(`create table projects (
      tenant_id uuid not null,
      id int generated always as identity,
      name text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id)
    )`)
  } else {
    // A schema of the tenant's own: the schema is the tenant, no tenant_id.
    await client.query(`create table projects (
      id int generated always as identity primary key,
      name text not null,
      created_at timestamptz not null default now()
    )`)
  }
}

export async function down({ client }: MigrationContext): Promise<void> {
  await client.query('drop table projects')
}
