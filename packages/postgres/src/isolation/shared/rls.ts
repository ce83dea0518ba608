import pg from 'pg'
import { SCOPE_TENANT_FUNCTION, WRITABLE_TENANT_FUNCTION } from '../../walls/guard-sql.ts'
import type { ResolvedSharedSchemaOptions } from './options.ts'

/** Name of the policy Tenantry writes on every tenant table. */
export const TENANT_POLICY = 'tenantry_tenant_isolation'

const q = (identifier: string): string => pg.escapeIdentifier(identifier)

/**
 * The USING and WITH CHECK expressions of the tenant policy. The tenant is the
 * one a valid signed scope token names (`tenantry_guard.tenant()`); the
 * sub-select makes PostgreSQL evaluate it once per statement (an InitPlan), not
 * per row. No token matches no row; an altered token raises. Writes also check
 * that offboarding has not fenced the tenant.
 *
 * @example
 * tenantPolicyExpressions('tenant_id').using // "tenant_id" = (select tenantry_guard.tenant())
 */
export function tenantPolicyExpressions(tenantColumn: string): { using: string; check: string } {
  return {
    using: `${q(tenantColumn)} = (select ${SCOPE_TENANT_FUNCTION}())`,
    check: `${q(tenantColumn)} = (select ${WRITABLE_TENANT_FUNCTION}())`,
  }
}

/**
 * The statements that put one table (and every partition or inheritance child
 * of it) behind row-level security: ENABLE and FORCE (so even the owner is
 * checked), and one policy for every command. A child read directly is not
 * covered by its parent's policy, so each gets its own.
 *
 * @example
 * for (const sql of rlsPolicyStatements('tasks', options)) await client.query(sql)
 */
export function rlsPolicyStatements(table: string, options: Pick<ResolvedSharedSchemaOptions, 'schema' | 'tenantColumn'>): string[] {
  const target = `${q(options.schema)}.${q(table)}`
  const { using, check } = tenantPolicyExpressions(options.tenantColumn)
  const policy = `as permissive for all to public using (${using}) with check (${check})`
  return [
    `alter table ${target} enable row level security`,
    `alter table ${target} force row level security`,
    `drop policy if exists ${q(TENANT_POLICY)} on ${target}`,
    `create policy ${q(TENANT_POLICY)} on ${target} ${policy}`,
    `do $$ declare child regclass; begin
       for child in
         with recursive d(oid) as (
           select inhrelid from pg_inherits where inhparent = ${pg.escapeLiteral(target)}::regclass
           union select i.inhrelid from pg_inherits i join d on i.inhparent = d.oid)
         select oid::regclass from d
       loop
         execute format('alter table %s enable row level security', child);
         execute format('alter table %s force row level security', child);
         execute format('drop policy if exists ${TENANT_POLICY} on %s', child);
         execute format('create policy ${TENANT_POLICY} on %s ${policy.replaceAll("'", "''")}', child);
       end loop;
     end $$`,
  ]
}

/** The default `install()` gives a tenant table's tenant column (see SharedSchemaOptions.tenantDefault). */
export const TENANT_DEFAULT_EXPRESSION = `${SCOPE_TENANT_FUNCTION}()`

/**
 * `alter table … alter column tenant_id set default tenantry_guard.tenant()`
 * (partitions and inheritance children get it too). The tenant column is a
 * uuid, as the policy needs.
 *
 * @example
 * tenantDefaultStatement('projects', options) // alter table "public"."projects" alter column "tenant_id" set default tenantry_guard.tenant()
 */
export function tenantDefaultStatement(table: string, options: Pick<ResolvedSharedSchemaOptions, 'schema' | 'tenantColumn'>): string {
  return `alter table ${q(options.schema)}.${q(table)} alter column ${q(options.tenantColumn)} set default ${TENANT_DEFAULT_EXPRESSION}`
}

/**
 * True when a column default, as pg_get_expr prints it, is the one
 * `tenantDefaultStatement` writes (bare, or cast to the column's type).
 *
 * @example
 * isTenantDefault('(tenantry_guard.tenant())::text') // true
 */
export function isTenantDefault(printed: string | null): boolean {
  if (printed === null) return false
  return printed === TENANT_DEFAULT_EXPRESSION || /^\(tenantry_guard\.tenant\(\)\)::[a-z][a-z0-9_ ]*(?:\([0-9, ]+\))?$/.test(printed)
}

/**
 * The grants and policies `install()` writes for the tables (after the guard
 * and the runtime role): the runtime role may read and write the tenant tables,
 * read the global ones and use the schema's sequences. Idempotent.
 */
export function sharedSchemaInstallStatements(options: ResolvedSharedSchemaOptions): string[] {
  const statements: string[] = []
  const schema = q(options.schema)
  const role = q(options.runtimeRole)
  statements.push(`grant usage on schema ${schema} to ${role}`)
  for (const table of options.tables) statements.push(`grant select, insert, update, delete on ${schema}.${q(table)} to ${role}`)
  for (const table of options.globalTables) statements.push(`grant select on ${schema}.${q(table)} to ${role}`)
  statements.push(`grant usage, select on all sequences in schema ${schema} to ${role}`)
  if (options.walls.rls) {
    for (const table of options.tables) statements.push(...rlsPolicyStatements(table, options))
  }
  if (options.tenantDefault) {
    for (const table of options.tables) statements.push(tenantDefaultStatement(table, options))
  }
  return statements
}
