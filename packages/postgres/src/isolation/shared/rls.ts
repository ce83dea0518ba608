import pg from 'pg'
import type { ResolvedSharedSchemaOptions } from './options.ts'

/** Name of the policy Tenantry writes on every tenant table. */
export const TENANT_POLICY = 'tenantry_tenant_isolation'

const q = (identifier: string): string => pg.escapeIdentifier(identifier)
const lit = (value: string): string => pg.escapeLiteral(value)

/**
 * The expression a policy compares the tenant column with. The sub-select makes
 * PostgreSQL evaluate the setting once per statement (an InitPlan), not per row;
 * `missing_ok` plus NULLIF make an unset or reset setting match no row at all.
 */
export function tenantSettingExpression(setting: string): string {
  return `(select nullif(current_setting(${lit(setting)}, true), '')::uuid)`
}

/**
 * The statements that put one table behind row-level security: ENABLE and FORCE
 * (so even the owner is checked), and one policy for every command with USING and
 * WITH CHECK on the transaction's tenant.
 *
 * @example
 * for (const sql of rlsPolicyStatements('tasks', options)) await pool.query(sql)
 */
export function rlsPolicyStatements(table: string, options: Pick<ResolvedSharedSchemaOptions, 'schema' | 'tenantColumn' | 'tenantSetting'>): string[] {
  const target = `${q(options.schema)}.${q(table)}`
  const check = `${q(options.tenantColumn)} = ${tenantSettingExpression(options.tenantSetting)}`
  return [
    `alter table ${target} enable row level security`,
    `alter table ${target} force row level security`,
    `drop policy if exists ${q(TENANT_POLICY)} on ${target}`,
    `create policy ${q(TENANT_POLICY)} on ${target} as permissive for all to public using (${check}) with check (${check})`,
  ]
}

/**
 * Everything `install()` runs: the runtime role (NOLOGIN, not superuser, not
 * BYPASSRLS), membership for the connecting user so it can switch to it, the
 * grants, and the policies. Idempotent.
 */
export function sharedSchemaInstallStatements(options: ResolvedSharedSchemaOptions): string[] {
  const statements: string[] = []
  const schema = q(options.schema)
  const role = options.runtimeRole
  if (role !== null) {
    statements.push(
      `do $$ begin
         if not exists (select 1 from pg_roles where rolname = ${lit(role)}) then
           create role ${q(role)} nologin nosuperuser nobypassrls noinherit;
         end if;
       exception when duplicate_object then null;
       end $$`,
      `do $$ begin
         if not exists (select 1 from pg_roles where rolname = current_user and rolsuper) then
           execute format('grant %I to %I', ${lit(role)}, current_user);
         end if;
       end $$`,
      `grant usage on schema ${schema} to ${q(role)}`,
    )
    for (const table of options.tables) {
      statements.push(`grant select, insert, update, delete on ${schema}.${q(table)} to ${q(role)}`)
    }
    for (const table of options.globalTables) {
      statements.push(`grant select on ${schema}.${q(table)} to ${q(role)}`)
    }
    statements.push(`grant usage, select on all sequences in schema ${schema} to ${q(role)}`)
  }
  if (options.walls.rls) {
    for (const table of options.tables) statements.push(...rlsPolicyStatements(table, options))
  }
  return statements
}
