import { errorCatalogue, type TenantryErrorCode } from './catalogue.ts'

/** One problem found in a validated input: which field, and what is wrong with it. */
export interface ValidationIssue {
  readonly path: string
  readonly message: string
}

export interface TenantryErrorOptions {
  /** Machine-readable extras (validation issues, doctor findings). Never secrets. */
  readonly details?: unknown
  readonly cause?: unknown
  /**
   * HTTP response headers that belong with this error (`Retry-After`,
   * `RateLimit-Policy`, `RateLimit`); adapters copy them onto the response.
   */
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * The single error type of Tenantry. `code` is stable; `status` is the HTTP status
 * every adapter uses; `message` says what to do about it.
 *
 * @example
 * try { currentTenant() } catch (e) {
 *   if (isTenantryError(e, 'TENANT_CONTEXT_MISSING')) reply.code(e.status)
 * }
 */
export class TenantryError extends Error {
  override readonly name = 'TenantryError'
  readonly code: TenantryErrorCode
  readonly status: number
  readonly details: unknown
  /** Response headers adapters send with this error (empty for most codes). */
  readonly headers: Readonly<Record<string, string>>

  constructor(code: TenantryErrorCode, message: string, options: TenantryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = errorCatalogue[code].status
    this.details = options.details
    this.headers = options.headers ?? {}
  }

  /** The JSON body adapters send: `{error:{code,message,details?}}`. */
  toJSON(): { error: { code: TenantryErrorCode; message: string; details?: unknown } } {
    const error: { code: TenantryErrorCode; message: string; details?: unknown } = {
      code: this.code,
      message: this.message,
    }
    if (this.details !== undefined) error.details = this.details
    return { error }
  }
}

/** True when `value` is a TenantryError (optionally with the given code). */
export function isTenantryError(value: unknown, code?: TenantryErrorCode): value is TenantryError {
  return value instanceof TenantryError && (code === undefined || value.code === code)
}

/** A VALIDATION_FAILED error listing every issue found. */
export function validationError(issues: readonly ValidationIssue[]): TenantryError {
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ')
  return new TenantryError('VALIDATION_FAILED', `Invalid input: ${summary}`, { details: issues })
}
