/**
 * The ledger a target's transaction writes to: the control plane's (same
 * database, same transaction) or the tenant database's own
 * `tenantry.applied_migrations`, which the runner mirrors to the control plane
 * after each commit. Either way, what a target has applied is recorded in the
 * same transaction as the DDL, so a crash can never leave the two apart.
 */
import type pg from 'pg'
import { readApplied, recordApplied, removeApplied, writeHead, type AppliedRow } from './ledger.ts'
import type { Migration } from './migration.ts'
import type { MigrationTarget } from './targets.ts'

export interface TargetLedger {
  read(client: pg.ClientBase): Promise<AppliedRow[]>
  record(client: pg.ClientBase, migration: Migration, durationMs: number): Promise<void>
  remove(client: pg.ClientBase, id: string): Promise<void>
  /** Called before commit with everything applied; the control ledger stores its head. */
  settle(client: pg.ClientBase, applied: readonly AppliedRow[]): Promise<void>
}

function controlLedger(target: MigrationTarget): TargetLedger {
  return {
    read: (client) => readApplied(client, target.set, target.key),
    record: (client, migration, ms) => recordApplied(client, target.set, target.key, migration, ms),
    remove: (client, id) => removeApplied(client, target.set, target.key, id),
    settle: (client, applied) => writeHead(client, target.set, target.key, applied),
  }
}

const localLedger: TargetLedger = {
  async read(client) {
    // Created on first use; later visits only read (no DDL lock on every run).
    const present = await client.query<{ present: boolean }>(`select to_regclass('tenantry.applied_migrations') is not null as present`)
    if (present.rows[0]?.present !== true) {
      await client.query(`create schema if not exists tenantry`)
      await client.query(`create table if not exists tenantry.applied_migrations (
        migration_id text primary key,
        checksum text not null,
        applied_at timestamptz not null default now(),
        duration_ms integer
      )`)
    }
    const result = await client.query<AppliedRow>('select migration_id as id, checksum from tenantry.applied_migrations order by migration_id')
    return result.rows
  },
  async record(client, migration, ms) {
    await client.query(
      `insert into tenantry.applied_migrations (migration_id, checksum, duration_ms) values ($1, $2, $3)
       on conflict (migration_id) do update set checksum = excluded.checksum, applied_at = now(), duration_ms = excluded.duration_ms`,
      [migration.id, migration.checksum, Math.round(ms)],
    )
  },
  async remove(client, id) {
    await client.query('delete from tenantry.applied_migrations where migration_id = $1', [id])
  },
  async settle() {},
}

export function ledgerOf(target: MigrationTarget): TargetLedger {
  return target.ledger === 'control' ? controlLedger(target) : localLedger
}
