/**
 * Tenant migration 0001: the SaaS's projects and tasks.
 *
 * Runs once for the shared model (tables in `public` with `tenant_id`, every
 * index leading with it, and a composite foreign key so a task can only point at
 * a project of its own tenant), and once per schema or database tenant (the same
 * tables without `tenant_id`: the schema or database is the tenant).
 *
 * `created_at` is `timestamptz(3)`: milliseconds, exactly what a JavaScript Date
 * and the ISO strings of the API carry, so a keyset cursor built from a row
 * compares equal to that row in the database.
 */
import type { MigrationContext as TenantMigrationContext } from '@tenantry/postgres'

export async function up({ client, model }: TenantMigrationContext): Promise<void> {
  if (model === 'shared') {
    await client.query(`
      create table projects (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        name text not null,
        created_at timestamptz(3) not null default now(),
        constraint projects_tenant_id_id unique (tenant_id, id)
      );
      create index projects_tenant_keyset on projects (tenant_id, created_at, id);
      create table tasks (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null,
        project_id uuid not null,
        title text not null,
        status text not null default 'todo' constraint tasks_status check (status in ('todo', 'doing', 'done')),
        created_at timestamptz(3) not null default now(),
        constraint tasks_project foreign key (tenant_id, project_id) references projects (tenant_id, id) on delete cascade
      );
      create index tasks_tenant_project_keyset on tasks (tenant_id, project_id, created_at, id);`)
    return
  }
  await client.query(`
    create table projects (
      id uuid primary key default gen_random_uuid(),
      name text not null,
      created_at timestamptz(3) not null default now()
    );
    create index projects_keyset on projects (created_at, id);
    create table tasks (
      id uuid primary key default gen_random_uuid(),
      project_id uuid not null constraint tasks_project references projects (id) on delete cascade,
      title text not null,
      status text not null default 'todo' constraint tasks_status check (status in ('todo', 'doing', 'done')),
      created_at timestamptz(3) not null default now()
    );
    create index tasks_project_keyset on tasks (project_id, created_at, id);`)
}

export async function down({ client }: TenantMigrationContext): Promise<void> {
  await client.query('drop table if exists tasks; drop table if exists projects;')
}
