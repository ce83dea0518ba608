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
 * are left alone, so no lock is taken on them), and the runtime role's grants,
 * for the tables there now and those added later. Idempotent; runs inside the
 * provisioning or migration transaction.
 *
 * @example
 * await installSchemaWalls(client, 'tenant_0d4…', tenant.id, 'tenantry_app')
 */
export async function installSchemaWalls(client: Queryable, schema: string, tenantId: string, runtimeRole: string): Promise<void> {
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
  await client.query(`grant usage on schema ${quoted} to ${role}`)
  await client.query(`grant select, insert, update, delete on all tables in schema ${quoted} to ${role}`)
  await client.query(`grant usage, select on all sequences in schema ${quoted} to ${role}`)
  // Tables a later migration adds to this schema get the same grants (their policy comes with the migration's walls).
  await client.query(`alter default privileges in schema ${quoted} grant select, insert, update, delete on tables to ${role}`)
  await client.query(`alter default privileges in schema ${quoted} grant usage, select on sequences to ${role}`)
}
