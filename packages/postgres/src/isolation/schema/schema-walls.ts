import { assertUuid } from '@tenantry/core'
import pg from 'pg'
import type { Queryable } from '../../catalog/transaction.ts'
import { SCOPE_TENANT_FUNCTION } from '../../walls/guard-sql.ts'

/** The policy on every table of a tenant schema. */
export const SCHEMA_TENANT_POLICY = 'tenantry_schema_tenant'

/**
 * The expression of a tenant schema's policy: the signed scope must name this
 * schema's tenant. A constant per schema, so PostgreSQL evaluates it once per
 * statement (a one-time filter) and a query from another tenant's scope (a
 * qualified name, or a function that runs a query string such as
 * `query_to_xml`) sees no row.
 *
 * @example
 * schemaPolicyExpression(tenant.id) // (select tenantry_guard.tenant()) = '…'::uuid
 */
export function schemaPolicyExpression(tenantId: string): string {
  assertUuid(tenantId, 'tenant.id')
  return `(select ${SCOPE_TENANT_FUNCTION}()) = ${pg.escapeLiteral(tenantId.toLowerCase())}::uuid`
}

/**
 * Puts every table of a tenant's schema behind its walls: ENABLE and FORCE row
 * level security with the schema's tenant policy (tables that already have it
 * are left alone, so no lock is taken on them), then the runtime role's grants
 * on them (and on the schema's sequences only with `sequences: true`: one role
 * serves every schema, so a grant lets any tenant advance the sequence).
 * Idempotent; runs inside the provisioning or migration transaction.
 *
 * @example
 * await installSchemaWalls(client, 'tenant_0d4…', tenant.id, 'tenantry_app')
 */
export async function installSchemaWalls(client: Queryable, schema: string, tenantId: string, runtimeRole: string, options: { sequences?: boolean } = {}): Promise<void> {
  const expression = schemaPolicyExpression(tenantId)
  const quoted = pg.escapeIdentifier(schema)
  const role = pg.escapeIdentifier(runtimeRole)
  await client.query(`do $$ declare t regclass; begin
      for t in
        select c.oid::regclass from pg_class c
         where c.relnamespace = ${pg.escapeLiteral(quoted)}::regnamespace and c.relkind in ('r', 'p')
           and not (c.relrowsecurity and c.relforcerowsecurity and exists (
                 select 1 from pg_policy p where p.polrelid = c.oid and p.polname = '${SCHEMA_TENANT_POLICY}'
                    and pg_get_expr(p.polqual, p.polrelid) like ${pg.escapeLiteral(`%${tenantId.toLowerCase()}%`)}))
      loop
        execute format('alter table %s enable row level security', t);
        execute format('alter table %s force row level security', t);
        execute format('drop policy if exists ${SCHEMA_TENANT_POLICY} on %s', t);
        execute format('create policy ${SCHEMA_TENANT_POLICY} on %s as permissive for all to public using (%s) with check (%s)', t, ${pg.escapeLiteral(expression)}, ${pg.escapeLiteral(expression)});
      end loop;
    end $$`)
  // Grants follow the walls, table by table: no default privileges, so a table added
  // later is out of the runtime role's reach until its walls are installed with it.
  await client.query(`grant usage on schema ${quoted} to ${role}`)
  await client.query(`grant select, insert, update, delete on all tables in schema ${quoted} to ${role}`)
  if (options.sequences === true) await client.query(`grant usage, select on all sequences in schema ${quoted} to ${role}`)
  else await client.query(`revoke all on all sequences in schema ${quoted} from ${role}`)
  // Earlier versions granted new tables by default; the walls grant them now.
  await client.query(`alter default privileges in schema ${quoted} revoke all on tables from ${role}`)
  await client.query(`alter default privileges in schema ${quoted} revoke all on sequences from ${role}`)
}
