import { TenantryError } from '@tenantry/core'

/** Names given to the catalog's constraints in schema.ts; write errors are told apart by them. */
export const constraints = {
  liveSlug: 'tenants_live_slug_key',
  domain: 'domains_pkey',
  apiKeyPrefix: 'api_keys_prefix_key',
} as const

interface PgErrorFields {
  readonly code?: unknown
  readonly constraint?: unknown
  readonly detail?: unknown
  readonly message?: unknown
}

function pgFields(error: unknown): PgErrorFields | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? (error as PgErrorFields) : undefined
}

/** True when `error` is PostgreSQL's unique_violation on `constraint`. */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const fields = pgFields(error)
  return fields?.code === '23505' && fields.constraint === constraint
}

/**
 * Turns the database's refusal of a catalog write into the TenantryError a caller
 * can act on (CONFLICT for a taken slug or domain, TENANT_NOT_FOUND for a tenant
 * that vanished). Anything else is returned unchanged.
 *
 * `slug` is what the write tried to claim, for the message.
 */
export function translateWriteError(error: unknown, claimed: { slug?: string } = {}): unknown {
  const fields = pgFields(error)
  if (fields === undefined) return error
  if (fields.code === '23505' && fields.constraint === constraints.liveSlug) {
    const slug = claimed.slug ?? valueFromDetail(fields.detail) ?? 'this slug'
    return new TenantryError('CONFLICT', `Slug "${slug}" is taken by another tenant; choose another slug`, {
      details: [{ path: 'slug', message: 'is taken' }],
      cause: error,
    })
  }
  if (fields.code === '23505' && fields.constraint === constraints.domain) {
    const domain = valueFromDetail(fields.detail) ?? 'this domain'
    return new TenantryError('CONFLICT', `Domain "${domain}" is already registered to a tenant; remove it there first`, {
      details: [{ path: 'domains', message: `${domain} is taken` }],
      cause: error,
    })
  }
  if (fields.code === '23503') {
    return new TenantryError('TENANT_NOT_FOUND', 'The tenant was deleted while this change was being written', { cause: error })
  }
  // Text PostgreSQL cannot store (a NUL, bad Unicode) that got past the input checks: the caller's input, not a fault here.
  // (22P02 is invalid input of any type, a bad cast or a drifted schema too: only jsonb's Unicode refusals are input.)
  if (fields.code === '22P05' || fields.code === '22021' || (fields.code === '22P02' && /unicode|json/i.test(String(fields.message ?? '')))) {
    return new TenantryError('VALIDATION_FAILED', 'PostgreSQL cannot store this text (a NUL character or invalid Unicode in the input); remove it and try again', {
      details: [{ path: '', message: 'holds text PostgreSQL cannot store' }],
      cause: error,
    })
  }
  return error
}

/** The value in PostgreSQL's `Key (column)=(value) already exists.` detail. */
function valueFromDetail(detail: unknown): string | undefined {
  if (typeof detail !== 'string') return undefined
  return /\)=\((.*)\) already exists/.exec(detail)?.[1]
}
