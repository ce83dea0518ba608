import { TenantryError } from '../errors/index.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/**
 * Slugs that would collide with infrastructure names, subdomains the product uses
 * itself, or PostgreSQL's own schemas.
 */
export const reservedSlugs: ReadonlySet<string> = new Set([
  'www', 'api', 'app', 'admin', 'public', 'tenantry', 'information_schema', 'postgres',
  'template0', 'template1', 'root', 'system', 'static', 'assets', 'mail', 'status', 'healthz',
])

/** True for a canonical UUID string (any version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value)
}

/**
 * Why `value` is not a usable slug, or undefined when it is one.
 * Rules: 1-63 chars of lowercase letters, digits and hyphens, starting and ending
 * alphanumeric, not reserved, not starting with `pg_`.
 */
export function slugProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string'
  if (value.length === 0 || value.length > 63) return 'must be 1-63 characters long'
  if (!SLUG.test(value)) return 'may contain only lowercase letters, digits and hyphens, and must start and end with a letter or digit'
  if (reservedSlugs.has(value) || value.startsWith('pg-') || value.startsWith('pg_')) return `"${value}" is reserved; choose another slug`
  return undefined
}

/** True when `value` is a valid, unreserved slug. */
export function isSlug(value: unknown): value is string {
  return slugProblem(value) === undefined
}

/** Throws VALIDATION_FAILED unless `value` is a UUID. */
export function assertUuid(value: unknown, path = 'id'): asserts value is string {
  if (!isUuid(value)) {
    throw new TenantryError('VALIDATION_FAILED', `${path} must be a UUID, got ${describe(value)}`, {
      details: [{ path, message: 'must be a UUID' }],
    })
  }
}

/** Throws VALIDATION_FAILED unless `value` is a valid slug. */
export function assertSlug(value: unknown, path = 'slug'): asserts value is string {
  const problem = slugProblem(value)
  if (problem !== undefined) {
    throw new TenantryError('VALIDATION_FAILED', `${path} ${problem}`, { details: [{ path, message: problem }] })
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return value === null ? 'null' : typeof value
}
