/**
 * The migration ledger in the control plane (`tenantry.migrations`,
 * `tenantry.migration_heads`): what each target has applied, what failed and
 * why, and one digest per target so that finding the targets with work to do is
 * a single query whatever the size of the fleet.
 */
import type { IsolationModelName } from '@tenantry/core'
import { tenantColumns, toTenantRecord, type TenantRecord, type TenantRow } from '../catalog/rows.ts'
import { migratedTenantPredicate } from '../catalog/schema.ts'
import type { Queryable } from '../catalog/transaction.ts'
import { byId, digestOf, type Migration, type MigrationSetName } from './migration.ts'

/** The target key of the control plane and of the shared tables; a tenant's is its id. */
export const CONTROL_TARGET = 'control'
export const SHARED_TARGET = 'shared'


export interface AppliedRow {
  readonly id: string
  readonly checksum: string
}

/** The head digest of one target, or undefined when it has none. */
export async function readHead(q: Queryable, set: MigrationSetName, target: string): Promise<string | undefined> {
  const result = await q.query<{ digest: string }>('select digest from tenantry.migration_heads where migration_set = $1 and target = $2', [set, target])
  return result.rows[0]?.digest
}

const MIGRATED_TENANT = migratedTenantPredicate('t')
const BEHIND = '(t.migration_digest < $1 or t.migration_digest > $1 or t.migration_digest is null)'

/**
 * Schema and database tenants whose head differs from `digest` (behind, ahead,
 * failed, or never migrated), in creation order. A fleet with nothing to do
 * costs one query of a few index probes (no scan of the tenants), whatever its
 * size; only when some tenant is behind are they listed.
 */
export async function tenantsNotAt(q: Queryable, digest: string, only?: { readonly slug: string }): Promise<TenantRecord[]> {
  if (only === undefined) {
    const probe = await q.query<{ behind: boolean }>(`select exists (select 1 from tenantry.tenants t where ${MIGRATED_TENANT} and ${BEHIND}) as behind`, [digest])
    if (probe.rows[0]?.behind !== true) return []
  }
  // One named tenant is visited whatever its digest: its own ledger is read, so a
  // tenant database restored from a backup is repaired by `--tenant`.
  const result = await q.query<TenantRow>(
    only
      ? `select ${tenantColumns} from tenantry.tenants t where ${MIGRATED_TENANT} and t.slug = $1`
      : `select ${tenantColumns} from tenantry.tenants t where ${MIGRATED_TENANT} and ${BEHIND} order by t.created_at, t.id`,
    only ? [only.slug] : [digest],
  )
  return result.rows.map(toTenantRecord)
}

/** Every tenant the tenant set runs on (for down migrations and status). */
export async function migratedTenants(q: Queryable, only?: { readonly slug: string }): Promise<TenantRecord[]> {
  const result = await q.query<TenantRow>(
    `select ${tenantColumns} from tenantry.tenants t where ${MIGRATED_TENANT} ${only ? 'and t.slug = $1' : ''} order by t.created_at, t.id`,
    only ? [only.slug] : [],
  )
  return result.rows.map(toTenantRecord)
}

/** Whether the tenant is still one the tenant set runs on (not deleted or offboarded meanwhile). */
export async function stillMigrated(q: Queryable, tenantId: string): Promise<boolean> {
  const result = await q.query(`select 1 from tenantry.tenants t where t.id = $1 and ${MIGRATED_TENANT}`, [tenantId])
  return result.rowCount === 1
}

/** The migrations a target has applied, in id order. */
export async function readApplied(q: Queryable, set: MigrationSetName, target: string): Promise<AppliedRow[]> {
  const result = await q.query<AppliedRow>(
    `select migration_id as id, checksum from tenantry.migrations
     where migration_set = $1 and target = $2 and status = 'applied' order by migration_id`,
    [set, target],
  )
  return result.rows
}

/**
 * Applied migrations whose checksum differs from the code's, across every
 * target of the set: one grouped query, run only when some target has work.
 */
export async function checksumConflicts(q: Queryable, set: MigrationSetName, migrations: readonly Migration[]): Promise<{ id: string; targets: number }[]> {
  const result = await q.query<{ id: string; targets: string }>(
    `select m.migration_id as id, count(*) as targets
     from tenantry.migrations m
     join unnest($2::text[], $3::text[]) as code(id, checksum) on code.id = m.migration_id
     where m.migration_set = $1 and m.status = 'applied' and m.checksum <> code.checksum
     group by m.migration_id order by m.migration_id`,
    [set, migrations.map((m) => m.id), migrations.map((m) => m.checksum)],
  )
  return result.rows.map((r) => ({ id: r.id, targets: Number(r.targets) }))
}

/** Records an applied migration (replacing a failure recorded earlier). */
export async function recordApplied(q: Queryable, set: MigrationSetName, target: string, migration: Migration, durationMs: number): Promise<void> {
  await q.query(
    `insert into tenantry.migrations (migration_set, target, migration_id, checksum, status, applied_at, duration_ms, error, updated_at)
     values ($1, $2, $3, $4, 'applied', now(), $5, null, now())
     on conflict (migration_set, target, migration_id) do update
       set checksum = excluded.checksum, status = 'applied', applied_at = excluded.applied_at,
           duration_ms = excluded.duration_ms, error = null, updated_at = now()`,
    [set, target, migration.id, migration.checksum, Math.round(durationMs)],
  )
}

/**
 * Records a failure. A failed up step gets a `failed` row; a failed down step
 * keeps its `applied` row (it is still applied) with the error beside it.
 */
export async function recordFailure(q: Queryable, set: MigrationSetName, target: string, migration: Migration, durationMs: number, error: string): Promise<void> {
  await q.query(
    `insert into tenantry.migrations (migration_set, target, migration_id, checksum, status, applied_at, duration_ms, error, updated_at)
     values ($1, $2, $3, $4, 'failed', null, $5, $6, now())
     on conflict (migration_set, target, migration_id) do update
       set duration_ms = case when tenantry.migrations.status = 'failed' then excluded.duration_ms else tenantry.migrations.duration_ms end,
           checksum = case when tenantry.migrations.status = 'failed' then excluded.checksum else tenantry.migrations.checksum end,
           error = excluded.error, updated_at = now()`,
    [set, target, migration.id, migration.checksum, Math.round(durationMs), error.slice(0, 2000)],
  )
}

/** Forgets an applied migration (after its down step ran). */
export async function removeApplied(q: Queryable, set: MigrationSetName, target: string, id: string): Promise<void> {
  await q.query('delete from tenantry.migrations where migration_set = $1 and target = $2 and migration_id = $3', [set, target, id])
}

/** Forgets a target's failures after it succeeded: failed rows go, errors beside applied rows are cleared. */
export async function clearFailures(q: Queryable, set: MigrationSetName, target: string): Promise<void> {
  await q.query(
    `with gone as (delete from tenantry.migrations where migration_set = $1 and target = $2 and status = 'failed')
     update tenantry.migrations set error = null where migration_set = $1 and target = $2 and status = 'applied' and error is not null`,
    [set, target],
  )
}

/** For a tenant target, a CTE that copies its head digest onto its catalog row (`$2` is the target). */
function tenantDigestCopy(set: MigrationSetName, target: string, digestParam: string): string | undefined {
  return set === 'tenant' && target !== SHARED_TARGET
    ? `copied as (update tenantry.tenants set migration_digest = ${digestParam} where id = $2::uuid)`
    : undefined
}

/** Stores the target's head: the digest of what it has applied (and, for a tenant, on its catalog row). */
export async function writeHead(q: Queryable, set: MigrationSetName, target: string, applied: readonly AppliedRow[]): Promise<void> {
  const copy = tenantDigestCopy(set, target, '$3')
  await q.query(
    `${copy ? `with ${copy}` : ''}
     insert into tenantry.migration_heads (migration_set, target, digest, head, applied, updated_at)
     values ($1, $2, $3, $4, $5, now())
     on conflict (migration_set, target) do update
       set digest = excluded.digest, head = excluded.head, applied = excluded.applied, updated_at = now()`,
    [set, target, digestOf(applied), applied.at(-1)?.id ?? null, applied.length],
  )
}

/**
 * Replaces a target's applied rows and head with `applied` (mirroring a tenant
 * database's own ledger), in one statement: stale rows go, missing or changed
 * rows are written, unchanged rows are left alone. With `clearFailures` (the
 * target has just succeeded) the same statement does what `clearFailures`
 * does: failed rows go (or become applied, when their migration now is) and
 * errors beside applied rows are cleared, so a tenant database costs the
 * control plane one statement per visit.
 */
export async function mirrorApplied(q: Queryable, set: MigrationSetName, target: string, applied: readonly AppliedRow[], options: { readonly clearFailures?: boolean } = {}): Promise<void> {
  const sorted = [...applied].sort(byId)
  const copy = tenantDigestCopy(set, target, '$5')
  // Each row is touched by one CTE only: data-modifying CTEs must not change a row twice.
  const stale = options.clearFailures ? '' : `m.status = 'applied' and `
  const changed = `tenantry.migrations.status <> 'applied' or tenantry.migrations.checksum <> excluded.checksum${options.clearFailures ? ' or tenantry.migrations.error is not null' : ''}`
  await q.query(
    `with code as (select * from unnest($3::text[], $4::text[]) as c(id, checksum)),
     stale as (
       delete from tenantry.migrations m
       where m.migration_set = $1 and m.target = $2 and ${stale}not exists (select 1 from code where code.id = m.migration_id)
     ),
     upserted as (
       insert into tenantry.migrations (migration_set, target, migration_id, checksum, status, applied_at, error, updated_at)
       select $1, $2, code.id, code.checksum, 'applied', now(), null, now() from code
       on conflict (migration_set, target, migration_id) do update
         set checksum = excluded.checksum, status = 'applied', applied_at = coalesce(tenantry.migrations.applied_at, excluded.applied_at), error = null, updated_at = now()
         where ${changed}
     )${copy ? `, ${copy}` : ''}
     insert into tenantry.migration_heads (migration_set, target, digest, head, applied, updated_at)
     values ($1, $2, $5, $6, $7, now())
     on conflict (migration_set, target) do update
       set digest = excluded.digest, head = excluded.head, applied = excluded.applied, updated_at = now()`,
    [set, target, sorted.map((a) => a.id), sorted.map((a) => a.checksum), digestOf(sorted), sorted.at(-1)?.id ?? null, sorted.length],
  )
}

/** Forgets everything about a target (a purged tenant), in one statement. */
export async function forgetTarget(q: Queryable, set: MigrationSetName, target: string): Promise<void> {
  const copy = set === 'tenant' && target !== SHARED_TARGET ? ', copied as (update tenantry.tenants set migration_digest = null where id = $2::uuid)' : ''
  await q.query(
    `with rows as (delete from tenantry.migrations where migration_set = $1 and target = $2)${copy}
     delete from tenantry.migration_heads where migration_set = $1 and target = $2`,
    [set, target],
  )
}

export interface LedgerCounts {
  readonly id: string
  readonly applied: number
  readonly failed: number
}

/** Applied and failed counts per migration over the given targets. */
export async function countsByMigration(q: Queryable, set: MigrationSetName, targets: readonly string[]): Promise<LedgerCounts[]> {
  const result = await q.query<{ id: string; applied: string; failed: string }>(
    `select migration_id as id,
            count(*) filter (where status = 'applied') as applied,
            count(*) filter (where status = 'failed') as failed
     from tenantry.migrations where migration_set = $1 and target = any($2::text[])
     group by migration_id order by migration_id`,
    [set, targets],
  )
  return result.rows.map((r) => ({ id: r.id, applied: Number(r.applied), failed: Number(r.failed) }))
}

export interface FailureRow {
  readonly target: string
  readonly id: string
  readonly error: string
  readonly at: Date
}

/** Failures recorded for the given targets, newest first. */
export async function failures(q: Queryable, set: MigrationSetName, targets: readonly string[]): Promise<FailureRow[]> {
  const result = await q.query<FailureRow>(
    `select target, migration_id as id, coalesce(error, '') as error, updated_at as at from tenantry.migrations
     where migration_set = $1 and error is not null and target = any($2::text[])
     order by updated_at desc, target`,
    [set, targets],
  )
  return result.rows
}
