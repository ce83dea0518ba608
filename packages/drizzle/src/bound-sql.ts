import { TenantryError } from '@tenantry/core'
import { sql, type SQL } from 'drizzle-orm'

const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/
const NUMBERED = /^\$(\d+)/
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/

/** Where the quoted text opened at `start` (a `'` or `"`) ends; `''` / `""` stay inside, and `\'` too in an E'' string. */
function endOfQuoted(text: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1
  while (i < text.length) {
    const c = text[i]
    if (backslashEscapes && c === '\\') i += 2
    else if (c === quote && text[i + 1] === quote) i += 2
    else if (c === quote) return i + 1
    else i++
  }
  return text.length
}

/** Where the block comment opened at `start` ends (block comments nest in PostgreSQL). */
function endOfBlockComment(text: string, start: number): number {
  let depth = 0
  let i = start
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++
      i += 2
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  return text.length
}

/**
 * PostgreSQL text with `$1`, `$2`… placeholders as a Drizzle `sql` object whose
 * placeholders are bound parameters (`sql.param`): the values never enter the
 * SQL text. Placeholders inside string literals, quoted identifiers, dollar-quoted
 * strings and comments are left alone. A placeholder with no value, or a value
 * no placeholder uses, is VALIDATION_FAILED (PostgreSQL refuses both too).
 * Drizzle numbers the parameters again, one per occurrence: `$1` written twice
 * binds its value twice.
 *
 * @example
 * const query = boundSql('select * from projects where id = $1 and name <> \'$2\'', [7])
 * await db.execute(query)   // select * from projects where id = $1 and name <> '$2'   params: [7]
 */
export function boundSql(text: string, parameters: readonly unknown[]): SQL {
  const chunks: SQL[] = []
  const used = new Set<number>()
  let pending = 0
  let i = 0
  const flush = (end: number): void => {
    if (end > pending) chunks.push(sql.raw(text.slice(pending, end)))
  }
  while (i < text.length) {
    const c = text[i]!
    const previous = i === 0 ? '' : text[i - 1]!
    if (c === "'") {
      i = endOfQuoted(text, i, "'", (previous === 'e' || previous === 'E') && (i < 2 || !IDENTIFIER_CHAR.test(text[i - 2]!)))
    } else if (c === '"') {
      i = endOfQuoted(text, i, '"', false)
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end + 1
    } else if (c === '/' && text[i + 1] === '*') {
      i = endOfBlockComment(text, i)
    } else if (c === '$' && !IDENTIFIER_CHAR.test(previous)) {
      const numbered = NUMBERED.exec(text.slice(i))
      const tag = numbered === null ? DOLLAR_TAG.exec(text.slice(i)) : null
      if (numbered !== null) {
        const index = Number(numbered[1])
        if (index < 1 || index > parameters.length) {
          throw new TenantryError('VALIDATION_FAILED', `$${numbered[1]} has no parameter: ${parameters.length} given`)
        }
        flush(i)
        chunks.push(sql`${sql.param(parameters[index - 1])}`)
        used.add(index)
        i += numbered[0].length
        pending = i
      } else if (tag !== null) {
        const close = text.indexOf(tag[0], i + tag[0].length)
        i = close === -1 ? text.length : close + tag[0].length
      } else {
        i++
      }
    } else {
      i++
    }
  }
  flush(text.length)
  if (used.size !== parameters.length) {
    const unused = parameters.map((_, index) => index + 1).filter((n) => !used.has(n))
    throw new TenantryError('VALIDATION_FAILED', `parameter(s) ${unused.map((n) => `$${n}`).join(', ')} given but not used in the SQL`)
  }
  return sql.join(chunks)
}
