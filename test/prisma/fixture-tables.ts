/**
 * The tables of schema.prisma, as a Tenantry tenant migration would create them
 * (Prisma Migrate needs the schema engine binary, which npm does not ship).
 * tenant_id has no default here: SharedSchemaIsolation.install() gives it
 * `default tenantry_guard.tenant()` (see `tenantDefault`), which is what the
 * schema's `@default(dbgenerated("tenantry_guard.tenant()"))` describes.
 */
export const PRISMA_FIXTURE_TABLES = ['projects', 'tasks'] as const

const tables = (tenantColumn: string, key: (columns: string) => string) => `
create table projects (${tenantColumn}
  id uuid not null default gen_random_uuid(),
  name text not null,
  primary key (${key('id')})
);
create table tasks (${tenantColumn}
  id uuid not null default gen_random_uuid(),
  project_id uuid not null,
  title text not null,
  done boolean not null default false,
  primary key (${key('id')}),
  foreign key (${key('project_id')}) references projects (${key('id')}) on delete cascade
);
create index on tasks (${key('project_id')});
`

/** The shared tables: tenant_id first in every key and foreign key. */
export const createPrismaFixtureTables = tables('\n  tenant_id uuid not null,', (columns) => `tenant_id, ${columns}`)

/** The same tables in a tenant's own schema or database: no tenant column (the schema or database is the tenant). */
export const createPlacedPrismaFixtureTables = tables('', (columns) => columns)
