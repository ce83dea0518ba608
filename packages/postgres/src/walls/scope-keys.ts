import { createHmac, randomBytes } from 'node:crypto'
import { TenantryError, assertUuid } from '@tenantry/core'
import type pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'

/** One signing key of the tenant scope. */
export interface ScopeKey {
  readonly id: number
  readonly secret: Buffer
}

const BLOCK = 64

/** HMAC-SHA256's padded inner and outer keys for `secret`, as the guard function uses them. */
function paddedKeys(secret: Buffer): { inner: Buffer; outer: Buffer } {
  const block = Buffer.alloc(BLOCK)
  secret.copy(block)
  const inner = Buffer.alloc(BLOCK)
  const outer = Buffer.alloc(BLOCK)
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (block[i] as number) ^ 0x36
    outer[i] = (block[i] as number) ^ 0x5c
  }
  return { inner, outer }
}

/**
 * Adds a signing key (32 random bytes) with the next id. Run inside the guard
 * installer's transaction, or under its lock.
 */
export async function addScopeKey(client: Queryable): Promise<ScopeKey> {
  const secret = randomBytes(32)
  const { inner, outer } = paddedKeys(secret)
  const row = (await client.query<{ id: number }>(
    `insert into tenantry.scope_keys (id, secret, inner_key, outer_key)
     select coalesce(max(id), 0) + 1, $1, $2, $3 from tenantry.scope_keys
     returning id`,
    [secret, inner, outer],
  )).rows[0]
  if (row === undefined) throw new TenantryError('INTERNAL', 'Could not store a scope signing key')
  return { id: row.id, secret }
}

/** Adds the first signing key when none is active. */
export async function ensureScopeKey(client: Queryable): Promise<void> {
  const active = await client.query('select 1 from tenantry.scope_keys where retired_at is null limit 1')
  if (active.rowCount === 0) await addScopeKey(client)
}

/**
 * Tokens stay valid this long after their key is retired by a rotation: the
 * token lifetime (15 minutes) plus the signers' key refresh (5 minutes).
 */
export const MIN_ROTATION_GRACE_SECONDS = 1200

/**
 * Adds a new signing key and retires the others after `graceSeconds` (at least
 * 20 minutes): signers switch to the new key the next time they refresh (within
 * 5 minutes), and tokens signed with an old key stay valid until it retires.
 * With `immediate: true` (a key that leaked) the old keys retire at once: every
 * instance's tenant queries fail (QUERY_REFUSED) until its signer has read the
 * new key, which a refused query triggers. Run from one process, e.g. a
 * scheduled job.
 *
 * @example
 * await rotateScopeKey(adminPool)                       // routine rotation
 * await rotateScopeKey(adminPool, { immediate: true })  // the key leaked
 */
export async function rotateScopeKey(pool: pg.Pool, options: { graceSeconds?: number; immediate?: boolean } = {}): Promise<number> {
  const grace = options.immediate === true ? 0 : options.graceSeconds ?? MIN_ROTATION_GRACE_SECONDS
  if (!Number.isInteger(grace) || (options.immediate !== true && grace < MIN_ROTATION_GRACE_SECONDS)) {
    throw new TenantryError('VALIDATION_FAILED', `graceSeconds must be a whole number of seconds, at least ${MIN_ROTATION_GRACE_SECONDS} (tokens signed just before the rotation live that long); pass { immediate: true } to retire the old keys at once`)
  }
  const client = await pool.connect()
  try {
    await client.query('begin')
    await client.query('lock table tenantry.scope_keys in exclusive mode')
    const key = await addScopeKey(client)
    await client.query(
      `update tenantry.scope_keys set retired_at = now() + make_interval(secs => $2)
        where id <> $1 and (retired_at is null or retired_at > now() + make_interval(secs => $2))`,
      [key.id, grace],
    )
    await client.query('commit')
    return key.id
  } catch (error) {
    await client.query('rollback').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}

/**
 * A scope token for `tenantId`: `<key id>.<tenant id>.<expiry>.<HMAC>`, which
 * `tenantry_guard.tenant()` accepts until `expiresAt` (unix seconds, server
 * clock).
 *
 * @example
 * const token = signScopeToken(key, tenant.id, Math.floor(Date.now() / 1000) + 900)
 */
export function signScopeToken(key: ScopeKey, tenantId: string, expiresAt: number): string {
  assertUuid(tenantId, 'tenantId')
  const message = `${key.id}.${tenantId.toLowerCase()}.${expiresAt}`
  return `${message}.${createHmac('sha256', key.secret).update(message).digest('hex')}`
}
