import pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { GUARD_SCHEMA, TENANT_FUNCTION_BODY, WRITABLE_TENANT_FUNCTION_BODY } from '../walls/guard-sql.ts'
import type { DoctorFinding } from './report.ts'

/**
 * Checks the signed tenant scope: the guard functions exist, are exactly the
 * SECURITY DEFINER functions install() writes, and are owned by a role the
 * runtime role is not;
 * an active signing key exists; the runtime role cannot read the keys or the
 * fences.
 */
export async function checkGuard(client: Queryable, runtimeRole: string, findings: DoctorFinding[]): Promise<void> {
  const functions = (await client.query<{ proname: string; prosecdef: boolean; owner: string; volatile: string; body: string; runtime_owns: boolean }>(
    `select p.proname, p.prosecdef, pg_get_userbyid(p.proowner) as owner, p.provolatile::text as volatile, p.prosrc as body,
            pg_has_role($2, p.proowner, 'MEMBER') as runtime_owns
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = $1 and p.proname in ('tenant', 'writable_tenant') and p.pronargs = 0`,
    [GUARD_SCHEMA, runtimeRole],
  )).rows
  const expected: Record<string, { body: string; volatile: string }> = {
    tenant: { body: TENANT_FUNCTION_BODY, volatile: 's' },
    writable_tenant: { body: WRITABLE_TENANT_FUNCTION_BODY, volatile: 'v' },
  }
  for (const name of ['tenant', 'writable_tenant']) {
    const fn = functions.find((f) => f.proname === name)
    if (fn === undefined) {
      findings.push({ severity: 'error', check: 'guard.missing', message: `The scope guard function ${GUARD_SCHEMA}.${name}() is missing.`, fix: 'Run install() of the isolation model.' })
      continue
    }
    if (!fn.prosecdef || fn.body !== expected[name]?.body || fn.volatile !== expected[name]?.volatile) {
      findings.push({ severity: 'error', check: 'guard.altered', message: `${GUARD_SCHEMA}.${name}() is not the SECURITY DEFINER function install() writes (it was changed, or written by another Tenantry version).`, fix: 'Run install() of the isolation model.' })
    }
    if (fn.runtime_owns) {
      findings.push({ severity: 'error', check: 'guard.owner', message: `Runtime role "${runtimeRole}" owns ${GUARD_SCHEMA}.${name}() (or is a member of its owner "${fn.owner}"), so it could replace it.`, fix: `alter function ${pg.escapeIdentifier(GUARD_SCHEMA)}.${pg.escapeIdentifier(name)}() owner to <the owner of the control plane>` })
    }
  }
  const keys = (await client.query<{ active: number; readable: boolean; fences_writable: boolean }>(
    `select (select count(*)::int from tenantry.scope_keys where retired_at is null) as active,
            has_table_privilege($1, 'tenantry.scope_keys', 'SELECT') as readable,
            has_table_privilege($1, 'tenantry.tenant_fences', 'DELETE') or has_table_privilege($1, 'tenantry.tenant_fences', 'TRUNCATE') as fences_writable`,
    [runtimeRole],
  ).catch(() => ({ rows: [] as { active: number; readable: boolean; fences_writable: boolean }[] }))).rows[0]
  if (keys === undefined) {
    findings.push({ severity: 'error', check: 'guard.missing', message: 'The scope signing keys (tenantry.scope_keys) are missing.', fix: 'Run install() of the isolation model.' })
    return
  }
  if (keys.active === 0) findings.push({ severity: 'error', check: 'guard.no_key', message: 'No active scope signing key.', fix: 'Run install() of the isolation model.' })
  if (keys.readable) {
    findings.push({ severity: 'error', check: 'guard.key_readable', message: `Runtime role "${runtimeRole}" can read tenantry.scope_keys, so it could sign a scope for any tenant.`, fix: `revoke all on tenantry.scope_keys from public, ${pg.escapeIdentifier(runtimeRole)}` })
  }
  if (keys.fences_writable) {
    findings.push({ severity: 'error', check: 'guard.fence_writable', message: `Runtime role "${runtimeRole}" can delete offboarding fences.`, fix: `revoke all on tenantry.tenant_fences from public, ${pg.escapeIdentifier(runtimeRole)}` })
  }
}
