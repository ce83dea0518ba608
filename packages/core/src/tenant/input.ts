import { validationError, type ValidationIssue } from '../errors/index.ts'
import { slugProblem } from './identifiers.ts'
import { isolationModels, type IsolationModelName } from './model.ts'

/** What a caller may give to create a tenant. */
export interface NewTenantInput {
  readonly slug: string
  readonly name: string
  readonly plan?: string
  readonly isolation?: IsolationModelName
  readonly settings?: Record<string, unknown>
  readonly domains?: readonly string[]
}

/** What a caller may change on a tenant. */
export interface TenantPatchInput {
  readonly name?: string
  readonly plan?: string
  readonly settings?: Record<string, unknown>
}

const PLAN = /^[a-z0-9][a-z0-9_-]{0,31}$/
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/

/** True for a lowercase DNS name with at least two labels. */
export function isDomainName(value: unknown): value is string {
  return typeof value === 'string' && DOMAIN.test(value)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype
}

function checkName(value: unknown, issues: ValidationIssue[]): void {
  if (typeof value !== 'string' || value.trim().length === 0) issues.push({ path: 'name', message: 'must be a non-empty string' })
  else if (value.length > 200) issues.push({ path: 'name', message: 'must be at most 200 characters' })
}

/** Settings nested deeper than this are refused (a tenant scope refuses a tenant nested past 64 levels). */
const MAX_SETTINGS_DEPTH = 32

/** True when `value` holds objects or arrays more than MAX_SETTINGS_DEPTH levels deep (a cycle included). */
function nestedTooDeep(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (depth > MAX_SETTINGS_DEPTH) return true
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (nestedTooDeep(item, depth + 1)) return true
  return false
}

function checkOptional(input: Record<string, unknown>, issues: ValidationIssue[]): void {
  if (input.plan !== undefined && (typeof input.plan !== 'string' || !PLAN.test(input.plan))) {
    issues.push({ path: 'plan', message: 'must be 1-32 lowercase letters, digits, "-" or "_"' })
  }
  if (input.settings !== undefined) {
    if (!isPlainObject(input.settings)) issues.push({ path: 'settings', message: 'must be a JSON object' })
    else if (nestedTooDeep(input.settings, 1)) issues.push({ path: 'settings', message: `must be nested at most ${MAX_SETTINGS_DEPTH} levels deep` })
    else if (JSON.stringify(input.settings).length > 64 * 1024) issues.push({ path: 'settings', message: 'must be at most 64 KiB of JSON' })
  }
}

function rejectUnknown(input: Record<string, unknown>, known: readonly string[], issues: ValidationIssue[]): void {
  for (const key of Object.keys(input)) if (!known.includes(key)) issues.push({ path: key, message: 'is not a known field' })
}

/** Validates a new tenant, throwing VALIDATION_FAILED with every issue found. */
export function parseNewTenant(input: unknown): NewTenantInput {
  if (!isPlainObject(input)) throw validationError([{ path: '', message: 'must be an object' }])
  const issues: ValidationIssue[] = []
  rejectUnknown(input, ['slug', 'name', 'plan', 'isolation', 'settings', 'domains'], issues)
  const slugIssue = slugProblem(input.slug)
  if (slugIssue) issues.push({ path: 'slug', message: slugIssue })
  checkName(input.name, issues)
  checkOptional(input, issues)
  if (input.isolation !== undefined && !isolationModels.includes(input.isolation as IsolationModelName)) {
    issues.push({ path: 'isolation', message: `must be one of ${isolationModels.join(', ')}` })
  }
  if (input.domains !== undefined) {
    if (!Array.isArray(input.domains) || input.domains.length > 20) issues.push({ path: 'domains', message: 'must be an array of at most 20 domain names' })
    else input.domains.forEach((d, i) => {
      if (!isDomainName(d)) issues.push({ path: `domains.${i}`, message: 'must be a lowercase domain name such as app.example.com' })
    })
  }
  if (issues.length) throw validationError(issues)
  return input as unknown as NewTenantInput
}

/** Validates a tenant patch, throwing VALIDATION_FAILED with every issue found. */
export function parseTenantPatch(input: unknown): TenantPatchInput {
  if (!isPlainObject(input)) throw validationError([{ path: '', message: 'must be an object' }])
  const issues: ValidationIssue[] = []
  rejectUnknown(input, ['name', 'plan', 'settings'], issues)
  if (input.name !== undefined) checkName(input.name, issues)
  checkOptional(input, issues)
  if (issues.length) throw validationError(issues)
  return input as TenantPatchInput
}
