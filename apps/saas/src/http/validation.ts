import { isDomainName, isStorableText, isUuid, validationError, type ValidationIssue } from '@tenantry/core'
import { z } from 'zod'
import { decodeCursor, type Cursor } from '../data/cursor.ts'
import { taskStatuses } from '../data/schema.ts'

/** Where a value came from, as the first segment of an issue's path. */
export type InputPart = 'body' | 'query' | 'params'

/**
 * Parses `value` with `schema`, or throws VALIDATION_FAILED listing every issue as
 * `{path, message}` with paths like `body.name` or `query.limit`.
 *
 * @example
 * const { name } = parseInput(projectInput, request.body, 'body')
 */
export function parseInput<S extends z.ZodTypeAny>(schema: S, value: unknown, part: InputPart): z.output<S> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  throw validationError(result.error.issues.map((issue) => issueOf(issue, part)))
}

function issueOf(issue: z.ZodIssue, part: InputPart): ValidationIssue {
  const path = [part, ...issue.path.map(String)].join('.')
  if (issue.code === 'unrecognized_keys') return { path, message: `unknown field(s): ${issue.keys.join(', ')}` }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return { path, message: 'is required' }
  return { path, message: issue.message }
}

/** A length in characters (code points), not UTF-16 units: "🚀" is one. */
function characters(value: string): number {
  let n = 0
  for (const _ of value) n += 1
  return n
}

const UNSTORABLE = 'must not contain a NUL character or half of a surrogate pair'

/**
 * A non-blank string within `max` (as `fits` counts it) that PostgreSQL
 * stores as it is: no NUL (refused: without this check a 500) and no half of
 * a surrogate pair (stored as U+FFFD: the text read back would not be the
 * text written). One issue at most, the first found, and nothing past a
 * failed check reads the text again.
 */
function checkedText(fits: (s: string) => boolean, tooLong: string) {
  return z.string({ invalid_type_error: 'must be a string' }).superRefine((s, context) => {
    const problem = !fits(s) ? tooLong : s.trim().length === 0 ? 'must not be empty or blank' : !isStorableText(s) ? UNSTORABLE : undefined
    if (problem !== undefined) context.addIssue({ code: z.ZodIssueCode.custom, message: problem })
  })
}

/**
 * A text field of the SaaS's own data: 1..`max` characters, counted in code
 * points ("🚀" is one); not blank; storable.
 */
function text(max: number) {
  // A code point is one or two UTF-16 units: past 2 × max units the text is too long without counting.
  return checkedText((s) => s.length <= 2 * max && characters(s) <= max, `must be at most ${max} characters`)
}

/**
 * A text field the catalog stores (a tenant's name, an API key's name), with
 * the catalog's own rule, so the catalog never refuses what passed here: at
 * most `max` UTF-16 code units (JavaScript's `length`: an emoji counts twice),
 * not blank, storable.
 */
function catalogText(max: number) {
  return checkedText((s) => s.length <= max, `must be at most ${max} characters (UTF-16 code units: an emoji counts twice)`)
}

const uuid = z.string().refine(isUuid, 'must be a UUID').transform((s) => s.toLowerCase())

export const projectName = text(200)
export const taskTitle = text(500)
const taskStatus = z.enum(taskStatuses, { errorMap: () => ({ message: `must be one of ${taskStatuses.join(', ')}` }) })

/** `{name}`: POST and PATCH /api/projects. */
export const projectInput = z.object({ name: projectName }).strict()

/** `{title, status?}`: POST /api/projects/:id/tasks. */
export const newTaskInput = z.object({ title: taskTitle, status: taskStatus.optional() }).strict()

/** `{title?, status?}`, at least one: PATCH /api/tasks/:id. */
export const taskPatchInput = z
  .object({ title: taskTitle.optional(), status: taskStatus.optional() })
  .strict()
  .refine((p) => p.title !== undefined || p.status !== undefined, 'must set title or status')

/** `:id` of a project or task. */
export const idParams = z.object({ id: uuid }).strict()
/** A job id the SaaS's queue made: its tenant's id, a dot, a random uuid. */
export const jobIdParams = z.object({ id: z.string().regex(/^[0-9a-f-]{36}\.[0-9a-f-]{36}$/, 'must be a report id') }).strict()

const LIMIT = /^[1-9][0-9]{0,2}$/

/** `?limit=1..100&cursor=…` of a list; nothing else. */
export const pageQuery = z
  .object({
    limit: z
      .string({ invalid_type_error: 'must be given once, as an integer from 1 to 100' })
      .refine((s) => LIMIT.test(s) && Number(s) <= 100, 'must be an integer from 1 to 100')
      .transform(Number)
      .optional(),
    cursor: z.string({ invalid_type_error: 'must be given once' }).optional(),
  })
  .strict()

/** A page query with its defaults and its cursor decoded (VALIDATION_FAILED for a bad cursor). */
export function parsePageQuery(query: unknown): { limit: number; cursor: Cursor | undefined } {
  const parsed = parseInput(pageQuery, query ?? {}, 'query')
  return { limit: parsed.limit ?? 20, cursor: parsed.cursor === undefined ? undefined : decodeCursor(parsed.cursor) }
}

const PLAN = /^[a-z0-9][a-z0-9_-]{0,31}$/
const plan = z.string({ invalid_type_error: 'must be a string' }).regex(PLAN, 'must be 1-32 lowercase letters, digits, "-" or "_"')
const tenantName = catalogText(200)

const domain = z.string({ invalid_type_error: 'must be a string' }).refine(isDomainName, 'must be a lowercase domain name such as app.example.com')

/** `:slug` of the admin API; the slug rules themselves are the catalog's. */
export const slugParams = z.object({ slug: z.string().min(1).max(63) }).strict()

/** POST /admin/api/tenants. */
export const newTenantInput = z
  .object({
    slug: z.string({ invalid_type_error: 'must be a string' }),
    name: tenantName,
    plan: plan.optional(),
    isolation: z.enum(['shared', 'schema', 'database'], { errorMap: () => ({ message: 'must be one of shared, schema, database' }) }).optional(),
    // The count first: a list of 50,000 is refused on its length, no element read (zod's own max reads them all).
    domains: z
      .custom<unknown[]>((value) => Array.isArray(value) && value.length <= 20, 'must be an array of at most 20 domain names')
      .pipe(z.array(domain))
      .optional(),
  })
  .strict()

const settings = z
  .record(z.unknown(), { invalid_type_error: 'must be a JSON object' })
  .refine((s) => JSON.stringify(s).length <= 64 * 1024, 'must be at most 65,536 characters of JSON')

/** PATCH /admin/api/tenants/:slug. */
export const tenantPatchInput = z.object({ name: tenantName.optional(), plan: plan.optional(), settings: settings.optional() }).strict()

/** `:slug/api-keys/:id` of the admin API: a key id is a UUID (anything else names no key: NOT_FOUND, as an unknown one). */
export const keyParams = z.object({ slug: z.string().min(1).max(63), id: z.string().min(1).max(100) }).strict()

/** POST /admin/api/tenants/:slug/domains. */
export const domainInput = z.object({ domain }).strict()

/** `:slug/domains/:domain` of the admin API. */
export const domainParams = z.object({ slug: z.string().min(1).max(63), domain: z.string().min(1).max(253) }).strict()

/** POST /admin/api/tenants/:slug/api-keys (the body may be absent). */
export const apiKeyInput = z.object({ name: catalogText(100).optional() }).strict()

/** A body that must be absent or empty (`{}`): suspend, resume. */
export const emptyInput = z.object({}).strict()
