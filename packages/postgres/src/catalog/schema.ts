import type pg from 'pg'
import { tenantStatuses, isolationModels } from '@tenantry/core'
import { inTransaction, type Queryable } from './transaction.ts'
import { constraints } from './write-errors.ts'

/**
 * The advisory lock every installer of the `tenantry` schema takes, transaction
 * scoped: the ASCII of "tenantry" as a bigint. Other control-plane installers
 * (per-tenant migration status, for one) should take the same lock, so two
 * processes never race to create the same schema.
 *
 * @example
 * await client.query('select pg_advisory_xact_lock($1::bigint)', [catalogLockKey])
 */
export const catalogLockKey = '8387223209960142969'

/** One step of the catalog's own schema history. Steps are append-only, never edited. */
interface CatalogMigration {
  readonly version: number
  readonly statements: readonly string[]
}

const quoteList = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ')

/**
 * The tenants the tenant migration set runs on: live, serving or suspended, in
 * a schema or database of their own (provisioning tenants get every migration
 * when provisioned; offboarding ones are on their way out). The migration
 * ledger's queries use this text word for word, so that PostgreSQL matches them
 * to the partial index built on it.
 */
export function migratedTenantPredicate(alias: string): string {
  return `${alias}.deleted_at is null and ${alias}.status in ('active', 'suspended') and ${alias}.isolation in ('schema', 'database')`
}

const migrations: readonly CatalogMigration[] = [
  {
    version: 1,
    statements: [
      // The runtime roles of tenant scopes have no business here: keys, settings, audit.
      `revoke all on schema tenantry from public`,
      `create table tenantry.tenants (
        id uuid primary key,
        slug text not null check (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
        name text not null,
        status text not null check (status in (${quoteList(tenantStatuses)})),
        plan text not null default 'free',
        isolation text not null check (isolation in (${quoteList(isolationModels)})),
        placement jsonb not null default '{}' check (jsonb_typeof(placement) = 'object'),
        settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        deleted_at timestamptz,
        constraint tenants_deleted_at_matches_status check ((status = 'deleted') = (deleted_at is not null))
      )`,
      // Only live tenants hold their slug: a deleted tenant's slug is free again.
      `create unique index ${constraints.liveSlug} on tenantry.tenants (slug) where deleted_at is null`,
      `create index tenants_created_at_id_idx on tenantry.tenants (created_at, id)`,
      `create table tenantry.domains (
        domain text not null check (domain = lower(domain)),
        tenant_id uuid not null references tenantry.tenants (id) on delete cascade,
        created_at timestamptz not null default now(),
        constraint ${constraints.domain} primary key (domain)
      )`,
      `create index domains_tenant_id_idx on tenantry.domains (tenant_id)`,
      `create table tenantry.api_keys (
        id uuid primary key,
        tenant_id uuid not null references tenantry.tenants (id) on delete cascade,
        name text,
        prefix text not null,
        hash text not null check (hash ~ '^[0-9a-f]{64}$'),
        created_at timestamptz not null default now(),
        last_used_at timestamptz,
        revoked_at timestamptz,
        constraint ${constraints.apiKeyPrefix} unique (prefix)
      )`,
      `create index api_keys_tenant_id_idx on tenantry.api_keys (tenant_id)`,
      // No foreign key to tenants: the audit trail outlives a purged tenant.
      `create table tenantry.audit_log (
        id bigserial primary key,
        at timestamptz not null default now(),
        actor text,
        action text not null,
        tenant_id uuid,
        reason text,
        details jsonb
      )`,
      `create index audit_log_tenant_id_idx on tenantry.audit_log (tenant_id, id)`,
    ],
  },
  {
    version: 2,
    statements: [
      // The migration ledger: one row per target (the control plane, the shared
      // tables, or a tenant) and migration, applied or failed. See docs/migrations.md.
      `create table tenantry.migrations (
        migration_set text not null check (migration_set in ('control', 'tenant')),
        target text not null,
        migration_id text not null,
        checksum text not null,
        status text not null check (status in ('applied', 'failed')),
        applied_at timestamptz,
        duration_ms integer,
        error text,
        updated_at timestamptz not null default now(),
        primary key (migration_set, target, migration_id)
      )`,
      `create index migrations_failed_idx on tenantry.migrations (migration_set, migration_id) where status = 'failed'`,
      // One row per target: a digest of everything applied, so a run with nothing
      // to do compares one digest per tenant in one query instead of visiting N
      // schemas or databases.
      `create table tenantry.migration_heads (
        migration_set text not null check (migration_set in ('control', 'tenant')),
        target text not null,
        digest text not null,
        head text,
        applied integer not null,
        updated_at timestamptz not null default now(),
        primary key (migration_set, target)
      )`,
      // A copy of each tenant's head digest on its row, under a partial index, so
      // that "is any migrated tenant behind?" is a few index probes (O(log N)),
      // not a scan of the fleet. Kept in step by the migration ledger.
      `alter table tenantry.tenants add column migration_digest text`,
      `create index tenants_migration_digest_idx on tenantry.tenants (migration_digest) where ${migratedTenantPredicate('tenants')}`,
    ],
  },
]

/**
 * The catalog schema version this code installs.
 *
 * @example
 * const { version } = await catalog.install()
 * if (version > catalogSchemaVersion) console.warn('the catalog was installed by a newer Tenantry')
 */
export const catalogSchemaVersion: number = migrations.at(-1)?.version ?? 0

/**
 * What an install did.
 *
 * @example
 * const { applied }: CatalogInstallResult = await catalog.install()
 * if (applied.length) console.log(`catalog schema upgraded: ${applied.join(', ')}`)
 */
export interface CatalogInstallResult {
  /** The schema version in the database afterwards. */
  readonly version: number
  /** Versions applied by this call (empty when the schema was already current). */
  readonly applied: readonly number[]
}

/**
 * Creates or upgrades the control-plane schema `tenantry` (tenants, domains, API
 * keys, audit log, and `catalog_version`). Idempotent, and safe to run from many
 * processes at once: everything happens in one transaction under an advisory
 * lock, so concurrent installers wait for each other and the later ones find
 * nothing to do. A database already at a newer version is left alone.
 *
 * @example
 * await installCatalogSchema(target.pool) // { version: 1, applied: [1] }, then { version: 1, applied: [] }
 */
export async function installCatalogSchema(pool: pg.Pool): Promise<CatalogInstallResult> {
  return inTransaction(pool, async function installInTransaction(client) {
    await client.query('select pg_advisory_xact_lock($1::bigint)', [catalogLockKey])
    await client.query('create schema if not exists tenantry')
    await client.query(`create table if not exists tenantry.catalog_version (
      singleton boolean primary key default true check (singleton),
      version integer not null,
      updated_at timestamptz not null default now()
    )`)
    const current = await installedVersion(client)
    const pending = migrations.filter((m) => m.version > current)
    for (const migration of pending) {
      for (const statement of migration.statements) await client.query(statement)
    }
    if (pending.length === 0) return { version: current, applied: [] }
    await client.query(
      `insert into tenantry.catalog_version (singleton, version) values (true, $1)
       on conflict (singleton) do update set version = excluded.version, updated_at = now()`,
      [catalogSchemaVersion],
    )
    return { version: catalogSchemaVersion, applied: pending.map((m) => m.version) }
  })
}

async function installedVersion(client: Queryable): Promise<number> {
  const result = await client.query<{ version: number }>('select version from tenantry.catalog_version')
  return result.rows[0]?.version ?? 0
}
