import { setTimeout as sleep } from 'node:timers/promises'
import { TenantryError } from '@tenantry/core'
import type pg from 'pg'
import type { PostgresTarget } from '../driver/target.ts'
import { requireSession, type ControlPooler } from './session.ts'

/** The session advisory lock one migration runner holds on the control plane. */
export const migrationLockKey = '8387223209960142970'

/** A held fleet lock; `release()` gives it back (idempotent). */
export interface FleetLock {
  release(): Promise<void>
}

export interface FleetLockOptions {
  /** How long to wait for another runner to finish; 0 (default) fails at once with MIGRATION_LOCKED. */
  readonly waitMs?: number
  /** Called once when the lock is busy and the runner starts waiting. */
  readonly onWait?: (holder: string) => void
  /**
   * How `control` reaches PostgreSQL. `'transaction'` (a transaction pooler):
   * refused with ISOLATION_MISCONFIGURED, since the lock's session would not
   * be the runner's. Left out, the pool is probed for one (once) and refused
   * the same way when found; `'none'` skips the probe.
   */
  readonly pooler?: ControlPooler
}

// A session lock is re-entrant for its session, and PGlite has a single session:
// two runners in one process must also be kept apart in the process.
const heldInProcess = new WeakSet<pg.Pool>()

async function describeHolder(client: pg.ClientBase): Promise<string> {
  const result = await client
    .query<{ pid: number; application_name: string; backend_start: Date }>(
      `select a.pid, a.application_name, a.backend_start from pg_locks l join pg_stat_activity a on a.pid = l.pid
       where l.locktype = 'advisory' and l.granted and ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint limit 1`,
      [migrationLockKey],
    )
    .catch(() => undefined)
  const row = result?.rows[0]
  return row ? `pid ${row.pid}${row.application_name ? ` (${row.application_name})` : ''}, connected since ${row.backend_start.toISOString()}` : 'another runner'
}

/**
 * Takes the fleet migration lock: one runner at a time per control plane. The
 * lock is a session advisory lock on a connection held for the whole run, so a
 * runner that dies (even by SIGKILL) frees it with its connection. It needs
 * that session: through a transaction pooler (declared, or found by a probe)
 * it refuses with ISOLATION_MISCONFIGURED before taking anything.
 *
 * @example
 * const lock = await acquireFleetLock(control, { waitMs: 60_000 })
 * try { … } finally { await lock.release() }
 */
export async function acquireFleetLock(control: PostgresTarget, options: FleetLockOptions = {}): Promise<FleetLock> {
  await requireSession(control, 'The fleet migration lock', options.pooler)
  const deadline = Date.now() + (options.waitMs ?? 0)
  let waiting = false
  const busy = async (holder: () => Promise<string>): Promise<void> => {
    if (Date.now() >= deadline) {
      throw new TenantryError('MIGRATION_LOCKED', `Another migration runner holds the fleet lock (${await holder()}); wait for it to finish (tenantry migrate --wait) or retry later`)
    }
    if (!waiting) {
      waiting = true
      options.onWait?.(await holder())
    }
    await sleep(Math.min(250, Math.max(10, deadline - Date.now())))
  }
  while (heldInProcess.has(control.pool)) await busy(async () => 'a runner in this process')
  heldInProcess.add(control.pool)
  if (control.backend === 'pglite') {
    // One process owns a PGlite data folder: the in-process lock is the fleet lock.
    return { release: async () => { heldInProcess.delete(control.pool) } }
  }
  let client: pg.PoolClient | undefined
  // Held idle for the whole run: pg-pool no longer listens for its errors, and a
  // server that closes it (restart, pg_terminate_backend) would crash the process.
  // The lock goes with the connection; the runner's next query to the control
  // plane fails and the run ends.
  let lost = false
  const onError = (): void => { lost = true }
  try {
    client = await control.pool.connect()
    client.on('error', onError)
    await client.query(`set application_name = 'tenantry migrate'`)
    for (;;) {
      const result = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [migrationLockKey])
      if (result.rows[0]?.locked) break
      const holderClient = client
      await busy(() => describeHolder(holderClient))
    }
  } catch (error) {
    client?.off('error', onError)
    client?.release(lost)
    heldInProcess.delete(control.pool)
    throw error
  }
  const held = client
  let released = false
  return {
    async release() {
      if (released) return
      released = true
      try {
        if (lost) throw new Error('the lock connection was lost')
        await held.query('select pg_advisory_unlock($1::bigint)', [migrationLockKey])
        await held.query('reset application_name')
        held.off('error', onError)
        held.release()
      } catch {
        held.off('error', onError)
        held.release(true)
      } finally {
        heldInProcess.delete(control.pool)
      }
    },
  }
}
