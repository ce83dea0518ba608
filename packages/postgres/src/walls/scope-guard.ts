import type { Queryable } from '../catalog/transaction.ts'
import type { PostgresTarget } from '../driver/target.ts'
import { GUARD_LOCK_KEY, SCOPE_SETTING, guardInstallStatements } from './guard-sql.ts'
import { ensureScopeKey } from './scope-keys.ts'
import { ScopeSigner, type ScopeSignerOptions } from './scope-signer.ts'

/**
 * The signed tenant scope of one database: installs the guard (keys, the
 * functions policies call, the fence) and signs the token every tenant
 * transaction carries. The runtime role can read neither the key nor change
 * the tenant the policies see: a `set_config('tenantry.scope', …)` in a tenant's
 * SQL is refused unless it carries a token only Tenantry can sign.
 *
 * @example
 * const guard = new ScopeGuard(target)
 * await guard.install(client)            // in the model's install transaction
 * const token = (await guard.signer()).tokenFor(tenant.id)
 */
export class ScopeGuard {
  readonly target: PostgresTarget
  readonly #options: ScopeSignerOptions
  #signer: Promise<ScopeSigner> | undefined

  constructor(target: PostgresTarget, options: ScopeSignerOptions = {}) {
    this.target = target
    this.#options = options
  }

  /** Creates or upgrades the guard and its first key. Idempotent; run as the owner. */
  async install(client: Queryable): Promise<void> {
    await client.query('select pg_advisory_xact_lock($1::bigint)', [GUARD_LOCK_KEY])
    for (const statement of guardInstallStatements()) await client.query(statement)
    await ensureScopeKey(client)
  }

  /**
   * The signer, loaded once through the owner's pool (or through `via`, a client
   * inside a transaction: on PGlite the pool's one connection may be that client's).
   */
  signer(via?: Queryable): Promise<ScopeSigner> {
    this.#signer ??= ScopeSigner.load(this.target.pool, this.#options, via).catch((error: unknown) => {
      this.#signer = undefined
      throw error
    })
    return this.#signer
  }

  /** Asks the loaded signer to read the newest key (after the database refused one of its tokens). */
  refreshSoon(): void {
    void this.#signer?.then((signer) => signer.refreshSoon(), () => undefined)
  }

  /** The loaded signer, or undefined before `signer()` resolved. */
  loaded(): Promise<ScopeSigner> | undefined {
    return this.#signer
  }

  /**
   * Sets `tenantId`'s scope for the rest of `client`'s transaction, or with
   * `local: false` for its session (owner-side work under FORCE RLS: purge,
   * migrations; a session scope must be cleared by the caller).
   */
  async enter(client: Queryable, tenantId: string, local = true): Promise<void> {
    const signer = await this.signer(client)
    await client.query('select pg_catalog.set_config($1, $2, $3)', [SCOPE_SETTING, signer.tokenFor(tenantId), local])
  }
}
