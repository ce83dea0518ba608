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

/** Issues a VALIDATION_FAILED error keeps (in `details`), and the ones its message names. */
export const MAX_ISSUES = 50
const ISSUES_IN_MESSAGE = 10
/** Characters of one issue's path, and of its message, kept; the rest is cut, marked with "…". */
const MAX_PATH = 200
const MAX_MESSAGE = 500

/** `text` cut to `max` characters ("…" at the cut), whole surrogate pairs only. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text
  let end = max - 1
  // Never half a surrogate pair: the message stays storable and printable.
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${text.slice(0, end)}…`
}

/**
 * A VALIDATION_FAILED error listing the issues found: at most 50 in
 * `details` and 10 in the message (then how many more), each path cut to
 * 200 characters and each message to 500. So an input built to fail in many places, or
 * with huge keys, cannot make an error (or its response) huge. `title` starts
 * the message (default "Invalid input").
 *
 * @example
 * throw validationError([{ path: 'body.name', message: 'must be a non-empty string' }])
 */
export function validationError(issues: readonly ValidationIssue[], title = 'Invalid input'): TenantryError {
  const kept = issues.slice(0, MAX_ISSUES).map((i) => ({ path: clip(String(i.path), MAX_PATH), message: clip(String(i.message), MAX_MESSAGE) }))
  let summary = kept.slice(0, ISSUES_IN_MESSAGE).map((i) => `${i.path}: ${i.message}`).join('; ')
  if (issues.length > ISSUES_IN_MESSAGE) summary += `; and ${issues.length - ISSUES_IN_MESSAGE} more`
  return new TenantryError('VALIDATION_FAILED', `${title}: ${summary}`, { details: kept })
}
