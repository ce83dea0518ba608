import { types } from 'node:util'
import { validationError, type ValidationIssue } from '../errors/index.ts'
import { slugProblem } from './identifiers.ts'
import { isolationModels, type IsolationModelName } from './model.ts'
import { forbiddenKeys } from './plain-data.ts'

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

/** A NUL, or half of a surrogate pair: text PostgreSQL cannot store (`text`, `jsonb`) or would store changed. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * True when PostgreSQL can store `text` as it is (in a `text` or `jsonb`
 * column): no NUL character, and no half of a surrogate pair (which would be
 * refused, or stored as U+FFFD). Check a string's length first: this reads all of it.
 *
 * @example
 * if (!isStorableText(reason)) throw validationError([{ path: 'reason', message: 'must not hold a NUL character' }])
 */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text)
}

/**
 * What is wrong with a short text written to the audit log (a reason, an
 * actor), or undefined when it is fine: a non-blank string of at most `max`
 * characters that PostgreSQL can store as it is (`isStorableText`). The
 * length is checked before the text is read.
 *
 * @example
 * const problem = auditTextProblem(options.reason, 1000)
 * if (problem) throw validationError([{ path: 'reason', message: problem }])
 */
export function auditTextProblem(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.trim().length === 0) return `must be a non-empty string of at most ${max} characters`
  if (!isStorableText(value)) return 'must not hold a NUL character or half of a surrogate pair'
  return undefined
}

function checkName(value: unknown, issues: ValidationIssue[]): void {
  // The length first: nothing below reads more than 200 characters.
  if (typeof value !== 'string' || value.length === 0) issues.push({ path: 'name', message: 'must be a non-empty string' })
  else if (value.length > 200) issues.push({ path: 'name', message: 'must be at most 200 characters' })
  else if (value.trim().length === 0) issues.push({ path: 'name', message: 'must be a non-empty string' })
  else if (UNSTORABLE.test(value)) issues.push({ path: 'name', message: 'must not hold a NUL character or half of a surrogate pair' })
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
/** Thrown by the serialiser's counters (markers, caught where they are thrown). */
const TOO_LARGE = Symbol('settings too large')
const UNSTORABLE_TEXT = Symbol('settings text PostgreSQL cannot store')
const NOT_JSON = Symbol('settings value that is not JSON data')

/**
 * Settings as they will be stored: serialised once (a `toJSON` or a getter
 * runs once), at most 65,536 characters, then read back, and that tree checked (depth,
 * keys) and returned, so what was checked is exactly what the catalog stores
 * (the caller's object is not read again). The size is counted while
 * serialising, in values and in characters of strings and keys, so a huge
 * sparse array or a part shared a million times over stops at once, not after
 * building a gigabyte string; the depth walk only ever sees a small tree.
 */
function storedSettings(value: unknown): { readonly settings: Record<string, unknown> } | { readonly issues: ValidationIssue[] } {
  const problem = (message: string): { issues: ValidationIssue[] } => ({ issues: [{ path: 'settings', message }] })
  let text: string | undefined
  let values = 0
  let chars = 0
  try {
    if (!isPlainObject(value)) return problem('must be a JSON object')
    text = JSON.stringify(value, function count(this: unknown, key: string, item: unknown) {
      if (++values > MAX_SETTINGS_VALUES) throw TOO_LARGE
      // A boxed String (or Number, Boolean) is turned into text after this, by its own toString: not JSON data.
      if (typeof item === 'object' && item !== null && types.isBoxedPrimitive(item)) throw NOT_JSON
      // Each size counted before its text is read (a huge string is refused without a scan).
      // A key of an object (`"key":` and a comma); not an array's index, nor the root's empty key (the first call),
      // nor a key JSON leaves out (its value undefined, a function or a symbol).
      const dropped = item === undefined || typeof item === 'function' || typeof item === 'symbol'
      const own = values > 1 && !dropped && !Array.isArray(this)
      if (own) chars += key.length + 3
      if (typeof item === 'string') chars += item.length + 2
      if (chars > MAX_SETTINGS_JSON) throw TOO_LARGE
      if ((own && UNSTORABLE.test(key)) || (typeof item === 'string' && UNSTORABLE.test(item))) throw UNSTORABLE_TEXT
      return item
    })
  } catch (error) {
    if (error === TOO_LARGE) return problem('must be at most 65,536 characters of JSON')
    if (error === UNSTORABLE_TEXT) return problem('must not hold a NUL character or half of a surrogate pair (in a string or a key)')
    if (error === NOT_JSON) return problem('must be JSON data (a boxed String, Number or Boolean is not: use the value itself)')
    return problem('must be JSON data (no cycle, BigInt or property that cannot be read)')
  }
  if (typeof text !== 'string') return problem('must be a JSON object')
  if (text.length > MAX_SETTINGS_JSON) return problem('must be at most 65,536 characters of JSON')
  const parsed: unknown = JSON.parse(text)
  if (!isPlainObject(parsed)) return problem('must be a JSON object')
  if (nestedTooDeep(parsed, 1)) return problem(`must be nested at most ${MAX_SETTINGS_DEPTH} levels deep`)
  // `__proto__`, `constructor`, `prototype`: plain data here, but code that merges settings later may not see them so.
  const keys = forbiddenKeys(parsed, 'settings')
  if (keys.length > 0) return { issues: keys }
  return { settings: parsed }
}

/** `plan` (when given) checked. */
function checkPlan(plan: unknown, issues: ValidationIssue[]): void {
  if (plan !== undefined && (typeof plan !== 'string' || !PLAN.test(plan))) {
    issues.push({ path: 'plan', message: 'must be 1-32 lowercase letters, digits, "-" or "_"' })
  }
}

/** The settings to store (see storedSettings): undefined when not given, or when invalid (the issues added). */
function checkSettings(value: unknown, issues: ValidationIssue[]): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  const stored = storedSettings(value)
  if ('settings' in stored) return stored.settings
  issues.push(...stored.issues)
  return undefined
}

/** At most this many custom domains at creation. */
const MAX_DOMAINS = 20

/** The domains (when given) copied once, by index, their count read once; undefined when not given or invalid (the issues added). */
function checkDomains(list: unknown, issues: ValidationIssue[]): unknown[] | undefined {
  if (list === undefined) return undefined
  const refuse = (): undefined => {
    issues.push({ path: 'domains', message: `must be an array of at most ${MAX_DOMAINS} domain names` })
    return undefined
  }
  const domains: unknown[] = []
  try {
    if (!Array.isArray(list)) return refuse()
    const length: unknown = list.length
    if (typeof length !== 'number' || !(length <= MAX_DOMAINS)) return refuse()
    for (let i = 0; i < length; i++) domains.push(list[i])
  } catch {
    return refuse()
  }
  let valid = true
  domains.forEach((d, i) => {
    if (isDomainName(d)) return
    valid = false
    issues.push({ path: `domains.${i}`, message: 'must be a lowercase domain name such as app.example.com' })
  })
  return valid ? domains : undefined
}

/** The fields given (undefined ones left out), as one new object. */
function given<T>(fields: Record<string, unknown>): T {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out as T
}

/**
 * The known fields of `input`, each read once into a new object; VALIDATION_FAILED
 * when it is not a plain object, or cannot be read (a revoked Proxy, a getter
 * that throws), and an issue for each unknown field.
 */
function readFields(input: unknown, known: readonly string[], issues: ValidationIssue[]): Record<string, unknown> {
  const notObject = validationError([{ path: '', message: 'must be an object' }])
  try {
    if (!isPlainObject(input)) throw notObject
    for (const key of Object.keys(input)) if (!known.includes(key)) issues.push({ path: key, message: 'is not a known field' })
    const fields: Record<string, unknown> = {}
    for (const key of known) fields[key] = input[key]
    return fields
  } catch (error) {
    // Only this function's own refusal passes as it is: anything a getter threw (a TenantryError of its own
    // making, a 403 or a 409, say) is the input's failure to be read.
    if (error === notObject) throw error
    throw validationError([{ path: '', message: 'must be an object whose fields can be read (a field threw when read)' }])
  }
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
  const issues: ValidationIssue[] = []
  const { slug, name, plan, isolation, settings: givenSettings, domains: givenDomains } = readFields(input, ['slug', 'name', 'plan', 'isolation', 'settings', 'domains'], issues)
  const slugIssue = slugProblem(slug)
  if (slugIssue) issues.push({ path: 'slug', message: slugIssue })
  checkName(name, issues)
  checkPlan(plan, issues)
  const settings = checkSettings(givenSettings, issues)
  if (isolation !== undefined && !isolationModels.includes(isolation as IsolationModelName)) {
    issues.push({ path: 'isolation', message: `must be one of ${isolationModels.join(', ')}` })
  }
  const domains = checkDomains(givenDomains, issues)
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
  const issues: ValidationIssue[] = []
  const { name, plan, settings: givenSettings } = readFields(input, ['name', 'plan', 'settings'], issues)
  if (name !== undefined) checkName(name, issues)
  checkPlan(plan, issues)
  const settings = checkSettings(givenSettings, issues)
  if (issues.length) throw validationError(issues)
  return given<TenantPatchInput>({ name, plan, settings })
}
