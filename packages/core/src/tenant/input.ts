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

/** True when `value` (a tree read from JSON) holds objects or arrays more than MAX_SETTINGS_DEPTH levels deep. */
function nestedTooDeep(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (depth > MAX_SETTINGS_DEPTH) return true
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (nestedTooDeep(item, depth + 1)) return true
  return false
}

/** At most this many characters of JSON. */
const MAX_SETTINGS_JSON = 64 * 1024
/** More values than this take more than MAX_SETTINGS_JSON characters (each at least one, and a comma). */
const MAX_SETTINGS_VALUES = MAX_SETTINGS_JSON / 2 + 1
/** Thrown by the serialiser's counter (a marker, caught where it is thrown). */
const TOO_LARGE = Symbol('settings too large')

/**
 * Settings as they will be stored: serialised once (a `toJSON` or a getter
 * runs once), at most 64 KiB, then read back, and that tree checked for depth
 * and returned, so what was checked is exactly what the catalog stores (the
 * caller's object is not read again). The size is checked first: the depth
 * walk only ever sees a small tree (no sparse array, no shared part).
 */
function storedSettings(value: unknown): { readonly settings: Record<string, unknown> } | { readonly issue: string } {
  if (!isPlainObject(value)) return { issue: 'must be a JSON object' }
  let text: string | undefined
  let values = 0
  try {
    // Counted as serialised: past MAX_SETTINGS_VALUES the JSON is over 64 KiB, so a huge sparse array or a
    // part shared a billion times over stops here, not after building a gigabyte string.
    text = JSON.stringify(value, (_key, item: unknown) => {
      if (++values > MAX_SETTINGS_VALUES) throw TOO_LARGE
      return item
    })
  } catch (error) {
    if (error === TOO_LARGE) return { issue: 'must be at most 64 KiB of JSON' }
    return { issue: 'must be JSON data (no cycle, BigInt or property that cannot be read)' }
  }
  if (typeof text !== 'string') return { issue: 'must be a JSON object' }
  if (text.length > MAX_SETTINGS_JSON) return { issue: 'must be at most 64 KiB of JSON' }
  const parsed: unknown = JSON.parse(text)
  if (!isPlainObject(parsed)) return { issue: 'must be a JSON object' }
  if (nestedTooDeep(parsed, 1)) return { issue: `must be nested at most ${MAX_SETTINGS_DEPTH} levels deep` }
  return { settings: parsed }
}

/** Checks plan and settings; returns the settings to store (see storedSettings), when given and valid. */
/** `plan` (when given) checked. */
function checkPlan(plan: unknown, issues: ValidationIssue[]): void {
  if (plan !== undefined && (typeof plan !== 'string' || !PLAN.test(plan))) {
    issues.push({ path: 'plan', message: 'must be 1-32 lowercase letters, digits, "-" or "_"' })
  }
}

/** The settings to store (see storedSettings): undefined when not given, or when invalid (the issue added). */
function checkSettings(value: unknown, issues: ValidationIssue[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  const stored = storedSettings(value)
  if ('settings' in stored) return stored.settings
  issues.push({ path: 'settings', message: stored.issue })
  return undefined
}

/** The fields given (undefined ones left out), as one new object. */
function given<T>(fields: Record<string, unknown>): T {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out as T
}

function rejectUnknown(input: Record<string, unknown>, known: readonly string[], issues: ValidationIssue[]): void {
  for (const key of Object.keys(input)) if (!known.includes(key)) issues.push({ path: key, message: 'is not a known field' })
}

/**
 * Validates a new tenant, throwing VALIDATION_FAILED with every issue found.
 * Each field is read once, and what is returned is a new object of what was
 * checked (the settings as they will be stored, the domains copied), so a
 * getter cannot answer one thing here and another to the catalog.
 *
 * @example
 * const input = parseNewTenant({ slug: 'acme', name: 'Acme', settings: { theme: 'dark' } })
 */
export function parseNewTenant(input: unknown): NewTenantInput {
  if (!isPlainObject(input)) throw validationError([{ path: '', message: 'must be an object' }])
  const issues: ValidationIssue[] = []
  rejectUnknown(input, ['slug', 'name', 'plan', 'isolation', 'settings', 'domains'], issues)
  const { slug, name, plan, isolation } = input
  const slugIssue = slugProblem(slug)
  if (slugIssue) issues.push({ path: 'slug', message: slugIssue })
  checkName(name, issues)
  checkPlan(plan, issues)
  const settings = checkSettings(input.settings, issues)
  if (isolation !== undefined && !isolationModels.includes(isolation as IsolationModelName)) {
    issues.push({ path: 'isolation', message: `must be one of ${isolationModels.join(', ')}` })
  }
  const list = input.domains
  let domains: unknown[] | undefined
  if (list !== undefined) {
    if (!Array.isArray(list) || list.length > 20) issues.push({ path: 'domains', message: 'must be an array of at most 20 domain names' })
    else {
      domains = Array.from(list as unknown[])
      domains.forEach((d, i) => {
        if (!isDomainName(d)) issues.push({ path: `domains.${i}`, message: 'must be a lowercase domain name such as app.example.com' })
      })
    }
  }
  if (issues.length) throw validationError(issues)
  return given<NewTenantInput>({ slug, name, plan, isolation, settings, domains })
}

/**
 * Validates a tenant patch, throwing VALIDATION_FAILED with every issue
 * found; each field read once, a new object returned (as parseNewTenant).
 *
 * @example
 * const patch = parseTenantPatch({ plan: 'pro' })
 */
export function parseTenantPatch(input: unknown): TenantPatchInput {
  if (!isPlainObject(input)) throw validationError([{ path: '', message: 'must be an object' }])
  const issues: ValidationIssue[] = []
  rejectUnknown(input, ['name', 'plan', 'settings'], issues)
  const { name, plan } = input
  if (name !== undefined) checkName(name, issues)
  checkPlan(plan, issues)
  const settings = checkSettings(input.settings, issues)
  if (issues.length) throw validationError(issues)
  return given<TenantPatchInput>({ name, plan, settings })
}
