/**
 * Moves one target up to the code's migrations, or down to an earlier one. All
 * transactional steps of a target run in one transaction with their ledger
 * rows, so a failed target is left exactly as it was; a step marked
 * `transaction: false` runs alone between transactions.
 */
import { performance } from 'node:perf_hooks'
import { TenantryError, isTenantryError } from '@tenantry/core'
import type pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { clearFailures, mirrorApplied, readApplied, recordFailure, stillMigrated, type AppliedRow } from './ledger.ts'
import { byId, runStep, type Migration, type MigrationContext } from './migration.ts'
import { ledgerOf, type TargetLedger } from './target-ledger.ts'
import { beginOn, pointAt, type MigrationTarget } from './targets.ts'

/** What happened to one target in a run. */
export interface TargetOutcome {
  readonly target: MigrationTarget
  /** `gone`: the tenant was deleted or offboarded while the run went on (not a failure). */
  readonly status: 'migrated' | 'current' | 'failed' | 'gone'
  /** Migration ids applied (or rolled back, for down) and committed. */
  readonly done: readonly string[]
  readonly durationMs: number
  /** The migration that failed, when one did. */
  readonly failedMigration?: string
  readonly error?: TenantryError
}

type Direction = 'up' | 'down'


/**
 * The code's migrations the target lacks, in order; refuses a target whose
 * applied migrations were edited since (checksum) or are unknown to this code.
 */
export function pendingFor(target: MigrationTarget, applied: readonly AppliedRow[], migrations: readonly Migration[]): Migration[] {
  const code = new Map(migrations.map((m) => [m.id, m]))
  for (const row of applied) {
    const migration = code.get(row.id)
    if (migration === undefined) {
      throw new TenantryError('MIGRATION_CHECKSUM_MISMATCH', `${target.label} has applied migration "${row.id}", which this code does not have (was it renamed, deleted, or applied by a newer release?)`)
    }
    if (migration.checksum !== row.checksum) {
      throw new TenantryError('MIGRATION_CHECKSUM_MISMATCH', `Migration "${row.id}" changed after ${target.label} applied it (checksum ${row.checksum.slice(0, 12)} applied, ${migration.checksum.slice(0, 12)} now); restore it and write a new migration instead`)
    }
  }
  const done = new Set(applied.map((a) => a.id))
  return migrations.filter((m) => !done.has(m.id))
}

/** Applied migrations after `to` (all of them when `to` is null), newest first, each known and with a down step. */
function rollbacksFor(target: MigrationTarget, applied: readonly AppliedRow[], migrations: readonly Migration[], to: string | null): Migration[] {
  pendingFor(target, applied, migrations)
  const code = new Map(migrations.map((m) => [m.id, m]))
  const steps = applied.filter((a) => to === null || a.id > to).sort(byId).reverse().map((a) => code.get(a.id) as Migration)
  const missing = steps.filter((m) => m.down === undefined).map((m) => m.id)
  if (missing.length) {
    throw new TenantryError('MIGRATION_FAILED', `Cannot roll ${target.label} back past ${missing.join(', ')}: no down step; write one or roll forward with a new migration`)
  }
  return steps
}

function contextOf(target: MigrationTarget, client: pg.ClientBase): MigrationContext {
  return { client, model: target.model, tenant: target.tenant, schema: target.schema }
}

function asMigrationError(error: unknown, target: MigrationTarget, migration: Migration | undefined, direction: Direction): TenantryError {
  const after = migration !== undefined && !migration.transaction
    ? 'it ran outside a transaction (transaction: false) and may be partly applied: check it, and make such steps idempotent (if not exists)'
    : 'the target was rolled back to where it was'
  if (isTenantryError(error) && error.code !== 'QUERY_REFUSED' && error.code !== 'VALIDATION_FAILED') {
    if (migration === undefined || error.code === 'MIGRATION_CHECKSUM_MISMATCH' || error.code === 'MIGRATION_FAILED') return error
  }
  const message = error instanceof Error ? error.message : String(error)
  const where = migration === undefined ? '' : `${direction === 'up' ? 'Migration' : 'Rolling back migration'} "${migration.id}" `
  return new TenantryError('MIGRATION_FAILED', `${where}failed on ${target.label}: ${message}; ${after}`, { cause: error })
}

/**
 * Runs `direction` steps on one target until nothing is left: inside the
 * target's transaction (and advisory lock) it reads the ledger, plans, runs a
 * batch of transactional steps with their ledger rows, and commits.
 */
async function drive(target: MigrationTarget, control: Queryable, direction: Direction, plan: (applied: AppliedRow[]) => Migration[]): Promise<TargetOutcome> {
  const started = performance.now()
  const ledger = ledgerOf(target)
  const done: string[] = []
  let applied: AppliedRow[] = []
  let current: Migration | undefined
  let stepStarted = started
  let connection: Awaited<ReturnType<MigrationTarget['connect']>> | undefined
  let inTransaction = false
  try {
    connection = await target.connect()
    const { client } = connection
    for (;;) {
      // Set first: a failure inside beginOn (a missing schema) must still roll back.
      inTransaction = true
      await beginOn(target, client)
      applied = await ledger.read(client)
      const steps = plan(applied)
      if (steps.length === 0) break
      const first = steps[0] as Migration
      if (!first.transaction) {
        // PostgreSQL refuses some statements in a transaction: run this step alone.
        await client.query('commit')
        inTransaction = false
        current = first
        stepStarted = performance.now()
        await runAlone(target, client, ledger, first, direction, applied)
        applied = direction === 'up' ? [...applied, { id: first.id, checksum: first.checksum }].sort(byId) : applied.filter((a) => a.id !== first.id)
        done.push(first.id)
        current = undefined
        continue
      }
      const stop = steps.findIndex((m) => !m.transaction)
      const batch = stop === -1 ? steps : steps.slice(0, stop)
      for (const migration of batch) {
        current = migration
        stepStarted = performance.now()
        await runStep(direction === 'up' ? migration.up : (migration.down as NonNullable<Migration['down']>), contextOf(target, client))
        if (direction === 'up') {
          await ledger.record(client, migration, performance.now() - stepStarted)
          applied.push({ id: migration.id, checksum: migration.checksum })
        } else {
          await ledger.remove(client, migration.id)
          applied = applied.filter((a) => a.id !== migration.id)
        }
      }
      current = undefined
      applied.sort(byId)
      const last = batch.length === steps.length
      if (direction === 'up' && last && target.afterUp) await target.afterUp(client)
      await ledger.settle(client, applied)
      await client.query('commit')
      inTransaction = false
      done.push(...batch.map((m) => m.id))
      if (last) break
    }
    if (inTransaction) {
      await ledger.settle(client, applied)
      await client.query('commit')
      inTransaction = false
    }
    // Give the connection back first: on PGlite the control plane is the same single connection.
    connection.release()
    connection = undefined
    if (target.ledger === 'local') await mirrorApplied(control, target.set, target.key, applied, { clearFailures: true })
    else await clearFailures(control, target.set, target.key)
    return { target, status: done.length ? 'migrated' : 'current', done, durationMs: performance.now() - started }
  } catch (caught) {
    let broken = false
    if (connection !== undefined && inTransaction) {
      await connection.client.query('rollback').catch(() => { broken = true })
    }
    if (connection !== undefined) {
      connection.release(broken)
      connection = undefined
    }
    // A tenant deleted or offboarded after the run listed it is not a failure.
    if (target.tenant !== undefined && !(await stillMigrated(control, target.tenant.id).catch(() => true))) {
      return { target, status: 'gone', done, durationMs: performance.now() - started }
    }
    const error = asMigrationError(caught, target, current, direction)
    // A target that failed before any step ran (its schema or database is missing or
    // down) is recorded against the first migration it lacks, so status shows it.
    const failed = current ?? (direction === 'up' ? await firstLacking(control, target, plan).catch(() => undefined) : undefined)
    if (failed !== undefined) {
      await recordFailure(control, target.set, target.key, failed, performance.now() - stepStarted, error.message).catch(() => undefined)
    }
    // What committed before the failure stays committed: mirror it.
    if (target.ledger === 'local' && done.length) await mirrorApplied(control, target.set, target.key, applied).catch(() => undefined)
    return { target, status: 'failed', done, durationMs: performance.now() - started, failedMigration: failed?.id, error }
  } finally {
    connection?.release()
  }
}

/** The first migration the control plane's ledger says the target lacks. */
async function firstLacking(control: Queryable, target: MigrationTarget, plan: (applied: AppliedRow[]) => Migration[]): Promise<Migration | undefined> {
  return plan(await readApplied(control, target.set, target.key))[0]
}

/** A non-transactional step: search_path set for the session and reset after. */
async function runAlone(target: MigrationTarget, client: pg.ClientBase, ledger: TargetLedger, migration: Migration, direction: Direction, applied: readonly AppliedRow[]): Promise<void> {
  const started = performance.now()
  await pointAt(target, client, false)
  try {
    // For the session, as the search_path: the step runs outside a transaction.
    if (target.enter) await target.enter(client, false)
    await runStep(direction === 'up' ? migration.up : (migration.down as NonNullable<Migration['down']>), contextOf(target, client))
  } finally {
    if (target.schema !== undefined) await client.query('reset search_path')
    if (target.enter) await client.query(`select pg_catalog.set_config('tenantry.scope', '', false)`)
  }
  const after = direction === 'up' ? [...applied, { id: migration.id, checksum: migration.checksum }].sort(byId) : applied.filter((a) => a.id !== migration.id)
  await client.query('begin')
  try {
    if (direction === 'up') {
      // What the step made gets its walls now, not only after a later transactional step.
      if (target.afterUp) {
        await pointAt(target, client, true)
        await target.afterUp(client)
      }
      await ledger.record(client, migration, performance.now() - started)
    } else await ledger.remove(client, migration.id)
    await ledger.settle(client, after)
    await client.query('commit')
  } catch (error) {
    await client.query('rollback').catch(() => undefined)
    throw error
  }
}

/** Applies every pending migration to the target. */
export function migrateTarget(target: MigrationTarget, migrations: readonly Migration[], control: Queryable): Promise<TargetOutcome> {
  return drive(target, control, 'up', (applied) => pendingFor(target, applied, migrations))
}

/** Rolls the target back so that `to` is its last applied migration (null: roll back everything). */
export function rollbackTarget(target: MigrationTarget, migrations: readonly Migration[], to: string | null, control: Queryable): Promise<TargetOutcome> {
  return drive(target, control, 'down', (applied) => rollbacksFor(target, applied, migrations, to))
}
