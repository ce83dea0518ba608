/**
 * The database side of the tenant scope: a signed scope setting that only
 * Tenantry can write, the functions policies call to read it, the offboarding
 * fence, and the tables behind them. See docs/security.md.
 */
import pg from 'pg'

/** The transaction setting that carries a tenant transaction's signed scope token. */
export const SCOPE_SETTING = 'tenantry.scope'

/**
 * The schema of the functions policies call. Every role may use it (a policy is
 * evaluated as the querying role); it holds nothing else. The keys and fences
 * stay in `tenantry`, which no runtime role can read.
 */
export const GUARD_SCHEMA = 'tenantry_guard'

/** `tenantry_guard.tenant()`: the tenant of a valid scope token, NULL without one. */
export const SCOPE_TENANT_FUNCTION = `${GUARD_SCHEMA}.tenant`
/** `tenantry_guard.writable_tenant()`: the same, refusing a tenant whose offboarding has fenced it. */
export const WRITABLE_TENANT_FUNCTION = `${GUARD_SCHEMA}.writable_tenant`

/** SQLSTATE raised for a scope token that is malformed, forged, expired or signed by an unknown key. */
export const INVALID_SCOPE_SQLSTATE = 'TY001'
/** SQLSTATE raised for a write by a tenant that offboarding has fenced. */
export const FENCED_TENANT_SQLSTATE = 'TY002'

/** Transaction-level advisory lock every guard installer takes (its own key, "tnguard"). */
export const GUARD_LOCK_KEY = '8390035238453602660'

/**
 * Statements that install the guard (idempotent). Run as the role that owns the
 * control plane: the functions are SECURITY DEFINER and read the keys as it.
 *
 * The token is `<key id>.<tenant uuid>.<expiry, unix seconds>.<hex HMAC-SHA256>`
 * over the first three parts; the HMAC is computed with the stored inner and
 * outer padded keys, so PostgreSQL needs nothing beyond its built-in `sha256`.
 * A present but invalid token raises (never a silent empty result); an absent
 * one gives NULL, which matches no row.
 */
export function guardInstallStatements(): string[] {
  const guard = pg.escapeIdentifier(GUARD_SCHEMA)
  return [
    `create schema if not exists tenantry`,
    `revoke all on schema tenantry from public`,
    `create table if not exists tenantry.scope_keys (
       id integer primary key,
       secret bytea not null check (length(secret) = 32),
       inner_key bytea not null check (length(inner_key) = 64),
       outer_key bytea not null check (length(outer_key) = 64),
       created_at timestamptz not null default now(),
       retired_at timestamptz
     )`,
    `revoke all on tenantry.scope_keys from public`,
    `create table if not exists tenantry.tenant_fences (
       tenant_id uuid primary key,
       fenced_at timestamptz not null default clock_timestamp()
     )`,
    `revoke all on tenantry.tenant_fences from public`,
    `create schema if not exists ${guard}`,
    `revoke create on schema ${guard} from public`,
    `grant usage on schema ${guard} to public`,
    `create or replace function ${guard}.tenant() returns uuid
       language plpgsql stable security definer
       set search_path = pg_catalog, pg_temp
     as $fn$
     declare
       token text := current_setting('${SCOPE_SETTING}', true);
       parts text[];
       key record;
       mac bytea;
     begin
       if token is null or token = '' then
         return null;
       end if;
       parts := string_to_array(token, '.');
       if cardinality(parts) <> 4 or parts[1] !~ '^[0-9]{1,9}$' or parts[3] !~ '^[0-9]{1,12}$'
          or parts[2] !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' or parts[4] !~ '^[0-9a-f]{64}$' then
         raise exception 'tenantry: the tenant scope setting is malformed' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       select k.inner_key, k.outer_key into key from tenantry.scope_keys k
        where k.id = parts[1]::integer and (k.retired_at is null or k.retired_at > statement_timestamp());
       if not found then
         raise exception 'tenantry: the tenant scope is signed by an unknown or retired key' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       mac := sha256(key.outer_key || sha256(key.inner_key || convert_to(parts[1] || '.' || parts[2] || '.' || parts[3], 'UTF8')));
       -- Compare digests of the two MACs, so the comparison time says nothing about the expected MAC.
       if sha256(mac) <> sha256(decode(parts[4], 'hex')) then
         raise exception 'tenantry: the tenant scope setting was not signed by Tenantry' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       if parts[3]::bigint < extract(epoch from statement_timestamp()) then
         raise exception 'tenantry: the tenant scope token has expired' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       return parts[2]::uuid;
     end
     $fn$`,
    // Volatile, so that in READ COMMITTED its fence lookup takes a fresh snapshot:
    // a fence committed while this statement waited is seen.
    `create or replace function ${guard}.writable_tenant() returns uuid
       language plpgsql volatile security definer
       set search_path = pg_catalog, pg_temp
     as $fn$
     declare
       scoped uuid := ${guard}.tenant();
     begin
       if scoped is not null and exists (select 1 from tenantry.tenant_fences f where f.tenant_id = scoped) then
         raise exception 'tenantry: tenant % is being offboarded and takes no more writes', scoped using errcode = '${FENCED_TENANT_SQLSTATE}';
       end if;
       return scoped;
     end
     $fn$`,
    `revoke all on function ${guard}.tenant() from public`,
    `revoke all on function ${guard}.writable_tenant() from public`,
    `grant execute on function ${guard}.tenant() to public`,
    `grant execute on function ${guard}.writable_tenant() to public`,
  ]
}
