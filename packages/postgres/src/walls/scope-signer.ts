import { TenantryError } from '@tenantry/core'
import type pg from 'pg'
import type { Queryable } from '../catalog/transaction.ts'
import { signScopeToken, type ScopeKey } from './scope-keys.ts'

export interface ScopeSignerOptions {
  /** Seconds a token stays valid (server clock). Default 900. */
  readonly tokenLifetimeSeconds?: number
  /** How often the newest key is read again, to follow a rotation. Default 5 minutes. */
  readonly keyRefreshMs?: number
  /** Tokens kept ready, one per tenant. Default 10,000. */
  readonly maxCachedTokens?: number
}

interface CachedToken {
  readonly token: string
  /** Local clock (ms) after which a new token is signed: a third of the lifetime before expiry. */
  readonly renewAt: number
}

/**
 * Signs the scope tokens tenant transactions carry. It reads the newest signing
 * key through a privileged pool (the runtime role cannot read the keys), learns
 * the server's clock so expiries are in the server's time, and keeps one token
 * per tenant until a third of its lifetime is left.
 *
 * @example
 * const signer = await ScopeSigner.load(adminPool)
 * const token = signer.tokenFor(tenant.id)   // set as tenantry.scope in the transaction
 */
export class ScopeSigner {
  readonly #pool: pg.Pool
  readonly #lifetime: number
  readonly #refreshMs: number
  readonly #max: number
  #key: ScopeKey
  /** Server clock minus local clock, in ms. */
  #skewMs: number
  #loadedAt: number
  #refreshing: Promise<void> | undefined
  readonly #tokens = new Map<string, CachedToken>()

  private constructor(pool: pg.Pool, key: ScopeKey, skewMs: number, options: ScopeSignerOptions) {
    this.#pool = pool
    this.#key = key
    this.#skewMs = skewMs
    this.#loadedAt = Date.now()
    this.#lifetime = options.tokenLifetimeSeconds ?? 900
    this.#refreshMs = options.keyRefreshMs ?? 300_000
    this.#max = options.maxCachedTokens ?? 10_000
    if (!Number.isInteger(this.#lifetime) || this.#lifetime < 30) {
      throw new TenantryError('VALIDATION_FAILED', 'tokenLifetimeSeconds must be a whole number of seconds, 30 or more')
    }
  }

  /**
   * Reads the newest active key and the server clock through `pool` (a role
   * that can read `tenantry.scope_keys`: the owner that ran install()), or
   * first through `via` (a client in a transaction, when the pool's only
   * connection is that client's, as on PGlite).
   */
  static async load(pool: pg.Pool, options: ScopeSignerOptions = {}, via: Queryable = pool): Promise<ScopeSigner> {
    const { key, skewMs } = await readKey(via)
    return new ScopeSigner(pool, key, skewMs, options)
  }

  /** The signing key's id (for tests and diagnostics). */
  get keyId(): number {
    return this.#key.id
  }

  /** A valid token for `tenantId`, from the cache or freshly signed. */
  tokenFor(tenantId: string): string {
    const now = Date.now()
    if (now - this.#loadedAt > this.#refreshMs) this.#refresh()
    const cached = this.#tokens.get(tenantId)
    if (cached !== undefined && cached.renewAt > now) return cached.token
    const expiresAt = Math.floor((now + this.#skewMs) / 1000) + this.#lifetime
    const token = signScopeToken(this.#key, tenantId, expiresAt)
    if (cached !== undefined) this.#tokens.delete(tenantId)
    else if (this.#tokens.size >= this.#max) this.#tokens.delete(this.#tokens.keys().next().value as string)
    this.#tokens.set(tenantId, { token, renewAt: now + (this.#lifetime * 1000 * 2) / 3 })
    return token
  }

  /**
   * Reads the newest key now (in the background; the current key serves
   * meanwhile). Called when the database refused a token of this signer: the key
   * may have been retired by an immediate rotation.
   */
  refreshSoon(): void {
    this.#refresh()
  }

  /** Reads the newest key again in the background; the current one serves meanwhile. */
  #refresh(): void {
    if (this.#refreshing !== undefined) return
    this.#loadedAt = Date.now()
    this.#refreshing = readKey(this.#pool)
      .then(({ key, skewMs }) => {
        if (key.id !== this.#key.id) this.#tokens.clear()
        this.#key = key
        this.#skewMs = skewMs
      })
      .catch(() => undefined)
      .finally(() => {
        this.#refreshing = undefined
      })
  }
}

async function readKey(pool: Queryable): Promise<{ key: ScopeKey; skewMs: number }> {
  const before = Date.now()
  let row: { id: number; secret: Buffer; server_ms: string } | undefined
  try {
    row = (await pool.query<{ id: number; secret: Buffer; server_ms: string }>(
      `select id, secret, (extract(epoch from clock_timestamp()) * 1000)::bigint::text as server_ms
         from tenantry.scope_keys where retired_at is null order by id desc limit 1`,
    )).rows[0]
  } catch (error) {
    if ((error as { code?: string }).code === '42P01' || (error as { code?: string }).code === '3F000') {
      throw new TenantryError('ISOLATION_MISCONFIGURED', 'The tenant scope guard is not installed in this database (no tenantry.scope_keys); run install() of the isolation model first', { cause: error })
    }
    throw error
  }
  if (row === undefined) {
    throw new TenantryError('ISOLATION_MISCONFIGURED', 'No active tenant scope signing key in tenantry.scope_keys; run install() of the isolation model first')
  }
  const local = (before + Date.now()) / 2
  return { key: { id: row.id, secret: row.secret }, skewMs: Number(row.server_ms) - local }
}
