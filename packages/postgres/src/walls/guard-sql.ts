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

/**
 * The body of `tenantry_guard.tenant()`. doctor compares the installed function
 * with it character for character. There is no SET search_path clause (it
 * costs a search-path recomputation on every call): every function, operator,
 * type and table is qualified instead, so whatever the caller's search_path,
 * nothing in another schema can stand in for them.
 */
export const TENANT_FUNCTION_BODY = `
     declare
       token pg_catalog.text := pg_catalog.current_setting('${SCOPE_SETTING}', true);
       parts pg_catalog.text[];
       inner_key pg_catalog.bytea;
       outer_key pg_catalog.bytea;
     begin
       if token is null or token operator(pg_catalog.=) '' then
         return null;
       end if;
       parts := pg_catalog.string_to_array(token, '.');
       if pg_catalog.cardinality(parts) operator(pg_catalog.<>) 4 then
         raise exception 'tenantry: the tenant scope setting is malformed' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       -- A handful of keys: comparing the id as text needs no cast of the untrusted part.
       select k.inner_key, k.outer_key into inner_key, outer_key from tenantry.scope_keys k
        where k.id::pg_catalog.text operator(pg_catalog.=) parts[1]
          and (k.retired_at is null or k.retired_at operator(pg_catalog.>) pg_catalog.statement_timestamp());
       if inner_key is null then
         raise exception 'tenantry: the tenant scope is signed by an unknown or retired key' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       -- HMAC-SHA256 over "<key>.<tenant>.<expiry>"; digests of both MACs are compared,
       -- so the comparison time says nothing about the expected MAC.
       if pg_catalog.sha256(pg_catalog.sha256(outer_key operator(pg_catalog.||) pg_catalog.sha256(inner_key operator(pg_catalog.||)
            pg_catalog.convert_to(parts[1] operator(pg_catalog.||) '.' operator(pg_catalog.||) parts[2] operator(pg_catalog.||) '.' operator(pg_catalog.||) parts[3], 'UTF8'))))
          operator(pg_catalog.<>) pg_catalog.sha256(pg_catalog.decode(parts[4], 'hex')) then
         raise exception 'tenantry: the tenant scope setting was not signed by Tenantry' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       -- Signed by Tenantry, so the parts are well formed.
       if parts[3]::pg_catalog.int8 operator(pg_catalog.<) pg_catalog.date_part('epoch', pg_catalog.statement_timestamp()) then
         raise exception 'tenantry: the tenant scope token has expired' using errcode = '${INVALID_SCOPE_SQLSTATE}';
       end if;
       return parts[2]::pg_catalog.uuid;
     end
     `

/**
 * The body of `tenantry_guard.writable_tenant()`: volatile, so that in READ
 * COMMITTED its fence lookup takes a fresh snapshot (a fence committed while
 * this statement waited is seen).
 */
export const WRITABLE_TENANT_FUNCTION_BODY = `
     declare
       scoped pg_catalog.uuid := ${GUARD_SCHEMA}.tenant();
     begin
       if scoped is not null and exists (select 1 from tenantry.tenant_fences f where f.tenant_id operator(pg_catalog.=) scoped) then
         raise exception 'tenantry: tenant % is being offboarded and takes no more writes', scoped using errcode = '${FENCED_TENANT_SQLSTATE}';
       end if;
       return scoped;
     end
     `

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
    `create or replace function ${guard}.tenant() returns pg_catalog.uuid language plpgsql stable security definer as $fn$${TENANT_FUNCTION_BODY}$fn$`,
    `create or replace function ${guard}.writable_tenant() returns pg_catalog.uuid language plpgsql volatile security definer as $fn$${WRITABLE_TENANT_FUNCTION_BODY}$fn$`,
    `revoke all on function ${guard}.tenant() from public`,
    `revoke all on function ${guard}.writable_tenant() from public`,
    `grant execute on function ${guard}.tenant() to public`,
    `grant execute on function ${guard}.writable_tenant() to public`,
  ]
}
