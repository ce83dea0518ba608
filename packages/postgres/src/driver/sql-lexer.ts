/**
 * SQL text read as PostgreSQL's lexer (scan.l) reads it, as far as Tenantry
 * needs: where whitespace, comments, string literals, quoted identifiers,
 * dollar-quoted strings and `$n` parameters begin and end. The tenant driver
 * finds a statement's first word with it (transaction control, CALL, DO,
 * EXPLAIN ANALYZE); @tenantry/drizzle finds the `$n` placeholders outside
 * literals and comments. The server's rules, kept to the letter where a
 * difference would let SQL mean one thing here and another there:
 * - whitespace is ASCII only (` \t\n\r\f\v`): U+00A0 and the other Unicode spaces separate nothing;
 * - a line comment (`--`) ends at `\n` or at `\r`;
 * - block comments nest, and an unterminated one runs to the end of the text;
 * - `E'…'` takes backslash escapes, and so do the segments that continue it on
 *   a later line (`E'a'` newline `'\'b'` is one string);
 * - `$` continues an identifier: in `a$1` and `a$b$` there is no parameter and no dollar quote.
 * standard_conforming_strings is taken as on (PostgreSQL's default since 9.1).
 */

const SPACE = /[ \t\n\r\f\v]/
/** ident_cont: letters, digits, `_`, `$` and every non-ASCII character. */
const IDENTIFIER_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/
const PARAMETER = /\$(\d+)/y
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y

/** True for PostgreSQL's whitespace (its lexer's `space`): nothing else separates tokens. */
export function isSpace(c: string | undefined): boolean {
  return c !== undefined && SPACE.test(c)
}

/** True when `c` would continue an identifier (or a keyword, or a number) it follows. */
function continuesIdentifier(c: string | undefined): boolean {
  return c !== undefined && IDENTIFIER_CHAR.test(c)
}

/** Where the line comment opened at `start` ends: at its `\n` or `\r`, or at the end of the text. */
function endOfLineComment(sql: string, start: number): number {
  let i = start + 2
  while (i < sql.length && sql[i] !== '\n' && sql[i] !== '\r') i++
  return i
}

/** Where the block comment opened at `start` ends (block comments nest). */
function endOfBlockComment(sql: string, start: number): number {
  let depth = 1
  let i = start + 2
  while (i < sql.length && depth > 0) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++
      i += 2
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--
      i += 2
    } else {
      i++
    }
  }
  return i
}

/**
 * Where the comment opening at `start` ends, or `start` when no comment opens
 * there. A line comment ends before its `\n` or `\r`.
 */
export function endOfComment(sql: string, start: number): number {
  if (sql[start] === '-' && sql[start + 1] === '-') return endOfLineComment(sql, start)
  if (sql[start] === '/' && sql[start + 1] === '*') return endOfBlockComment(sql, start)
  return start
}

/** Where the quoted text opened at `start` ends: `''` / `""` stay inside, and with `backslashEscapes` any `\x` too. */
function endOfSegment(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1
  while (i < sql.length) {
    const c = sql[i]
    if (backslashEscapes && c === '\\') i += 2
    else if (c === quote && sql[i + 1] === quote) i += 2
    else if (c === quote) return i + 1
    else i++
  }
  return sql.length
}

/**
 * Where a string continues after the closing quote at `end - 1`: the position
 * of the `'` that opens its next segment when only whitespace and line
 * comments stand between, with a newline among them; undefined when it does
 * not continue.
 */
function continuationOf(sql: string, end: number): number | undefined {
  let i = end
  let newline = false
  while (i < sql.length) {
    const c = sql[i]
    if (c === '\n' || c === '\r') newline = true
    if (isSpace(c)) i++
    else if (c === '-' && sql[i + 1] === '-') i = endOfLineComment(sql, i)
    else break
  }
  return newline && sql[i] === "'" ? i : undefined
}

/** Where the escape string (`E'…'`, its segments on later lines included) whose first quote is at `start` ends. */
function endOfEscapeString(sql: string, start: number): number {
  let end = endOfSegment(sql, start, "'", true)
  for (let next = continuationOf(sql, end); next !== undefined; next = continuationOf(sql, end)) {
    end = endOfSegment(sql, next, "'", true)
  }
  return end
}

/**
 * Where the quoted token opening at `start` ends, or `start` when none opens
 * there: a string literal (`'…'`, `E'…'`), a quoted identifier (`"…"`) or a
 * dollar-quoted string (`$$…$$`, `$tag$…$tag$`). An unterminated one runs to
 * the end of the text.
 */
export function endOfQuoted(sql: string, start: number): number {
  const c = sql[start]
  if (c === "'") {
    const previous = sql[start - 1]
    const escapes = (previous === 'e' || previous === 'E') && !continuesIdentifier(sql[start - 2])
    return escapes ? endOfEscapeString(sql, start) : endOfSegment(sql, start, "'", false)
  }
  if (c === '"') return endOfSegment(sql, start, '"', false)
  if (c === '$' && !continuesIdentifier(sql[start - 1])) {
    DOLLAR_TAG.lastIndex = start
    const tag = DOLLAR_TAG.exec(sql)
    if (tag === null) return start
    const close = sql.indexOf(tag[0], start + tag[0].length)
    return close === -1 ? sql.length : close + tag[0].length
  }
  return start
}

/** Where the comment or quoted token (see endOfComment, endOfQuoted) opening at `start` ends, or `start` when none opens there. */
export function endOfCommentOrQuoted(sql: string, start: number): number {
  const end = endOfComment(sql, start)
  return end === start ? endOfQuoted(sql, start) : end
}

/**
 * The positional parameter (`$1`, `$2`…) at `start`, or undefined: its number
 * as written and where it ends. A `$` that continues an identifier is none.
 */
export function parameterAt(sql: string, start: number): { readonly number: string; readonly end: number } | undefined {
  if (sql[start] !== '$' || continuesIdentifier(sql[start - 1])) return undefined
  PARAMETER.lastIndex = start
  const match = PARAMETER.exec(sql)
  return match === null ? undefined : { number: match[1]!, end: start + match[0].length }
}

/**
 * Where the first token of `sql` from `from` on begins: after whitespace,
 * comments (line ones end at `\n` or `\r`, as PostgreSQL's lexer ends them;
 * block ones nest) and `;`.
 *
 * @example
 * statementStart('-- done\r\n;  commit') // 12
 */
export function statementStart(sql: string, from = 0): number {
  let i = tokenStart(sql, from)
  while (sql[i] === ';') i = tokenStart(sql, i + 1)
  return i
}

/**
 * Where the next token of `sql` from `from` on begins: after whitespace and
 * comments (a `;` is a token: it ends the statement).
 *
 * @example
 * tokenStart('prepare/* 2pc *\/transaction', 7) // 16
 */
export function tokenStart(sql: string, from = 0): number {
  let i = from
  while (i < sql.length) {
    if (isSpace(sql[i])) {
      i++
      continue
    }
    const end = endOfComment(sql, i)
    if (end === i) break
    i = end
  }
  return i
}
