/**
 * Tenant API keys: `tnt_<prefix>_<secret>`. The catalog keeps the prefix (to find
 * the row) and the SHA-256 of the whole key (to check it); the key itself is shown
 * once, at creation, and never stored.
 */
import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto'
import type pg from 'pg'
import { assertUuid, TenantryError } from '@tenantry/core'
import { assertOptions, optionalText, parseAttribution } from './arguments.ts'
import { attribute, writeAudit } from './audit.ts'
import { apiKeyColumns, toApiKeyInfo, type ApiKeyInfo, type ApiKeyRow } from './rows.ts'
import { lockLiveTenant, requireLiveTenant } from './tenant-queries.ts'
import { inTransaction } from './transaction.ts'
import { constraints, isUniqueViolation, translateWriteError } from './write-errors.ts'

/**
 * A new key, shown once.
 *
 * @example
 * const { id, key }: CreatedApiKey = await catalog.createApiKey(tenant.id)
 * reply.code(201).send({ id, key })
 */
export interface CreatedApiKey {
  readonly id: string
  /** `tnt_<8 chars>_<43 chars>`; give it to the tenant now, it cannot be read back. */
  readonly key: string
}

/**
 * Whose key a presented key is.
 *
 * @example
 * const who: VerifiedApiKey | undefined = await catalog.verifyApiKey(bearer)
 */
export interface VerifiedApiKey {
  readonly keyId: string
  readonly tenantId: string
}

const KEY = /^tnt_([a-z0-9]{8})_[A-Za-z0-9_-]{32,128}$/
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
/** Only refresh `last_used_at` when it is older than this, so verification rarely writes. */
const TOUCH_INTERVAL_MS = 60_000

/** A fresh key: 8 prefix characters (about 41 bits, unique in the catalog) and 256 random bits. */
export function generateApiKey(): { prefix: string; key: string; hash: string } {
  let prefix = ''
  for (let i = 0; i < 8; i++) prefix += PREFIX_ALPHABET[randomInt(PREFIX_ALPHABET.length)]
  const key = `tnt_${prefix}_${randomBytes(32).toString('base64url')}`
  return { prefix, key, hash: hashApiKey(key) }
}

/**
 * The prefix of a well-formed key (`tnt_<prefix>_<secret>`), or undefined for
 * anything else. The prefix is not secret: log it to tell keys apart.
 *
 * @example
 * apiKeyPrefix('tnt_3lwllfkc_MntYIajSz9B887LhcQ1ogLhVip-Xl9A3kPsid-JCoyg') // '3lwllfkc'
 * apiKeyPrefix('Bearer xyz') // undefined
 */
export function apiKeyPrefix(key: unknown): string | undefined {
  return typeof key === 'string' ? KEY.exec(key)?.[1] : undefined
}

/** SHA-256 of the whole key, hex. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

export async function createApiKey(pool: pg.Pool, tenantId: unknown, input: unknown, defaultActor: string | undefined): Promise<CreatedApiKey> {
  assertUuid(tenantId, 'tenantId')
  const options = assertOptions(input, 'options', ['name', 'actor', 'reason'])
  const name = optionalText(options.name, 'options.name', 100)
  const { actor, reason } = attribute(parseAttribution(options), defaultActor)
  // A prefix collision is rare (41 bits) but possible; a new draw settles it.
  for (let attempt = 1; ; attempt++) {
    const { prefix, key, hash } = generateApiKey()
    const id = randomUUID()
    try {
      await inTransaction(pool, async function insertApiKey(client) {
        await lockLiveTenant(client, tenantId, 'share')
        await client.query('insert into tenantry.api_keys (id, tenant_id, name, prefix, hash) values ($1, $2, $3, $4, $5)', [
          id, tenantId, name ?? null, prefix, hash,
        ])
        await writeAudit(client, { action: 'api_key.created', tenantId, actor, reason, details: { keyId: id, prefix, name: name ?? null } })
      })
      return { id, key }
    } catch (error) {
      if (attempt < 3 && isUniqueViolation(error, constraints.apiKeyPrefix)) continue
      throw translateWriteError(error)
    }
  }
}

export async function verifyApiKey(pool: pg.Pool, key: unknown): Promise<VerifiedApiKey | undefined> {
  const prefix = apiKeyPrefix(key)
  if (prefix === undefined) return undefined
  const result = await pool.query<{ id: string; tenant_id: string; hash: string; last_used_at: Date | null }>(
    `select k.id, k.tenant_id, k.hash, k.last_used_at
     from tenantry.api_keys k join tenantry.tenants t on t.id = k.tenant_id
     where k.prefix = $1 and k.revoked_at is null and t.deleted_at is null`,
    [prefix],
  )
  const row = result.rows[0]
  if (row === undefined) return undefined
  const presented = Buffer.from(hashApiKey(key as string), 'hex')
  const stored = Buffer.from(row.hash, 'hex')
  if (stored.length !== presented.length || !timingSafeEqual(presented, stored)) return undefined
  if (row.last_used_at === null || Date.now() - row.last_used_at.getTime() > TOUCH_INTERVAL_MS) {
    await pool.query('update tenantry.api_keys set last_used_at = now() where id = $1', [row.id])
  }
  return { keyId: row.id, tenantId: row.tenant_id }
}

export async function revokeApiKey(pool: pg.Pool, keyId: unknown, input: unknown, defaultActor: string | undefined): Promise<ApiKeyInfo> {
  assertUuid(keyId, 'keyId')
  const options = assertOptions(input, 'options', ['actor', 'reason'])
  const { actor, reason } = attribute(parseAttribution(options), defaultActor)
  return inTransaction(pool, async function revokeInTransaction(client) {
    const current = await client.query<ApiKeyRow>(`select ${apiKeyColumns} from tenantry.api_keys where id = $1 for update`, [keyId])
    const row = current.rows[0]
    if (row === undefined) throw new TenantryError('NOT_FOUND', `No API key with id ${keyId}`)
    if (row.revoked_at !== null) return toApiKeyInfo(row)
    const revoked = await client.query<ApiKeyRow>(
      `update tenantry.api_keys set revoked_at = now() where id = $1 returning ${apiKeyColumns}`,
      [keyId],
    )
    await writeAudit(client, { action: 'api_key.revoked', tenantId: row.tenant_id, actor, reason, details: { keyId, prefix: row.prefix } })
    return toApiKeyInfo(revoked.rows[0] ?? row)
  })
}

export async function listApiKeys(pool: pg.Pool, tenantId: unknown): Promise<ApiKeyInfo[]> {
  assertUuid(tenantId, 'tenantId')
  await requireLiveTenant(pool, tenantId)
  const result = await pool.query<ApiKeyRow>(
    `select ${apiKeyColumns} from tenantry.api_keys where tenant_id = $1 order by created_at, id`,
    [tenantId],
  )
  return result.rows.map(toApiKeyInfo)
}
