/**
 * Up-front checks of catalog arguments. Each throws VALIDATION_FAILED with a
 * message that says what to pass instead, before any query runs.
 */
import {
  TenantryError,
  isDomainName,
  auditTextProblem,
  isStorableText,
  isolationModels,
  tenantStatuses,
  validationError,
  type TenantPlacement,
  type TenantStatus,
  type ValidationIssue,
} from '@tenantry/core'

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  return value === null ? 'null' : typeof value
}

function fail(path: string, message: string, got: unknown): never {
  throw new TenantryError('VALIDATION_FAILED', `${path} ${message}, got ${describe(got)}`, { details: [{ path, message }] })
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}

/**
 * Options objects are optional, but when given must be objects with known
 * keys. Returns a copy of the known options, each read once: a getter cannot
 * answer one thing to a check and another to the write, and what one throws
 * (an error of its own making, a 403 say) is VALIDATION_FAILED.
 */
export function assertOptions(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) fail(path, 'must be an object', value)
  let unknown: string[]
  const copy: Record<string, unknown> = {}
  try {
    unknown = Object.keys(value).filter((key) => !known.includes(key))
    for (const key of known) if (Object.hasOwn(value, key)) copy[key] = value[key]
  } catch {
    throw validationError([{ path, message: 'must be an object whose options can be read (one threw when read)' }])
  }
  if (unknown.length) {
    throw validationError(unknown.map((key) => ({ path: `${path}.${key}`, message: `is not a known option (known: ${known.join(', ')})` })))
  }
  return copy
}

/** Throws unless `value` is a lowercase DNS name with at least two labels. */
export function assertDomain(value: unknown, path = 'domain'): asserts value is string {
  if (isDomainName(value)) return
  const hint = typeof value === 'string' && isDomainName(value.toLowerCase()) ? ' (write it in lowercase)' : ''
  fail(path, `must be a lowercase domain name such as app.example.com, without scheme or port${hint}`, value)
}

/** Throws unless `value` is a status of the tenant lifecycle. */
export function assertStatus(value: unknown, path = 'status'): asserts value is TenantStatus {
  if (!tenantStatuses.includes(value as TenantStatus)) fail(path, `must be one of ${tenantStatuses.join(', ')}`, value)
}

/** An optional free-text field: absent, or a non-empty string of at most `max` characters. */
export function optionalText(value: unknown, path: string, max: number): string | undefined {
  if (value === undefined) return undefined
  const problem = auditTextProblem(value, max)
  if (problem !== undefined) fail(path, problem, value)
  return value as string
}

/** An optional whole number in [min, max]; `fallback` when absent. */
export function optionalInteger(value: unknown, path: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, `must be a whole number from ${min} to ${max}`, value)
  }
  return value
}

/**
 * A schema or database name PostgreSQL keeps as it is: 1-63 bytes (it cuts a
 * longer identifier to 63 bytes, so two names alike in their first 63 bytes
 * would name the same schema) and storable text.
 */
function isPlacementName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 63 && Buffer.byteLength(value, 'utf8') <= 63 && isStorableText(value)
}
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/

/**
 * A placement: `{ server?, schema?, database? }`. Schema and database names may
 * be any 1-63 bytes of storable text (they are always quoted as identifiers);
 * a server is the name of a configured server.
 */
export function parsePlacement(value: unknown, path = 'placement'): TenantPlacement {
  if (!isPlainObject(value)) fail(path, 'must be an object such as { schema: "tenant_acme" }', value)
  const issues: ValidationIssue[] = []
  // Each field read once (Object.entries), and only what was read is kept.
  const checked: ['server' | 'schema' | 'database', string][] = []
  let entries: [string, unknown][]
  try {
    entries = Object.entries(value)
  } catch {
    throw validationError([{ path, message: 'must be an object whose fields can be read (one threw when read)' }])
  }
  for (const [key, field] of entries) {
    if (key === 'server' || key === 'schema' || key === 'database') {
      if (typeof field === 'string') checked.push([key, field])
    }
    if (key === 'server') {
      if (typeof field !== 'string' || !SERVER_NAME.test(field)) issues.push({ path: `${path}.server`, message: 'must be a configured server name (letters, digits, "_", ".", "-")' })
    } else if (key === 'schema' || key === 'database') {
      if (!isPlacementName(field)) issues.push({ path: `${path}.${key}`, message: 'must be a name of 1-63 bytes in UTF-8 (PostgreSQL cuts a longer identifier, so two long names could meet), with no NUL character or half of a surrogate pair' })
    } else {
      issues.push({ path: `${path}.${key}`, message: 'is not a placement field (server, schema, database)' })
    }
  }
  if (issues.length) throw validationError(issues)
  // A new object of the values checked: a getter or a toJSON cannot answer the check one thing and the write another.
  const placement: { server?: string; schema?: string; database?: string } = {}
  for (const [key, field] of checked) placement[key] = field
  return placement as TenantPlacement
}

/** Throws unless `value` is one of the isolation models. */
export function assertIsolation(value: unknown, path = 'isolation'): void {
  if (!isolationModels.includes(value as never)) fail(path, `must be one of ${isolationModels.join(', ')}`, value)
}

/**
 * Who did a catalog change and why; both end up in the audit log. Every
 * mutation of the catalog takes these as options.
 *
 * @example
 * await catalog.suspend(id, { actor: 'admin:alice', reason: 'chargeback' })
 */
export interface Attribution {
  /** Who asked (an admin user, a job). Default: the system scope's actor, else the catalog's default actor. */
  readonly actor?: string
  /** Why. Default: the system scope's reason, if the call runs in one. */
  readonly reason?: string
}

/** Checks the `actor` and `reason` of a mutation's options. */
export function parseAttribution(options: Record<string, unknown>, path = 'options'): Attribution {
  const actor = optionalText(options.actor, `${path}.actor`, 200)
  const reason = optionalText(options.reason, `${path}.reason`, 1000)
  return { ...(actor === undefined ? {} : { actor }), ...(reason === undefined ? {} : { reason }) }
}

/** Characters of an audit entry's `details` as JSON. */
const MAX_AUDIT_DETAILS = 64 * 1024

/**
 * An audit `details` value as it will be stored: serialised once (a getter or
 * `toJSON` runs once), at most 65,536 characters of JSON, read back, and that
 * tree checked for text jsonb cannot store (a NUL, half a surrogate pair, in a
 * string or a key). The tree is returned: what is written is exactly what was
 * checked.
 */
export function parseAuditDetails(value: unknown, path = 'details'): unknown {
  if (value === undefined) return undefined
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  if (json === undefined || json.length > MAX_AUDIT_DETAILS) fail(path, 'must be JSON-serialisable and at most 65,536 characters of JSON', value)
  const tree: unknown = JSON.parse(json)
  // Walked with a stack of its own: 64 K of JSON can nest deeper than the call stack goes.
  const pending: unknown[] = [tree]
  while (pending.length > 0) {
    const node = pending.pop()
    if (typeof node === 'string') {
      if (!isStorableText(node)) fail(path, 'must not hold a NUL character or half of a surrogate pair (in a string or a key)', value)
    } else if (Array.isArray(node)) {
      pending.push(...node)
    } else if (typeof node === 'object' && node !== null) {
      for (const [key, item] of Object.entries(node)) {
        if (!isStorableText(key)) fail(path, 'must not hold a NUL character or half of a surrogate pair (in a string or a key)', value)
        pending.push(item)
      }
    }
  }
  return tree
}
