/**
 * The SQL lexer the tenant driver (statementStart) and @tenantry/drizzle
 * (boundSql) share: where PostgreSQL's lexer sees whitespace, comments, quoted
 * text and `$n` parameters end.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { endOfComment, endOfCommentOrQuoted, endOfQuoted, isSpace, parameterAt, statementStart } from '@tenantry/postgres/internal'

/** The text the token opening at `start` covers. */
const quoted = (sql: string, start = 0): string => sql.slice(start, endOfQuoted(sql, start))

describe('the SQL lexer', () => {
  it('takes ASCII whitespace only as whitespace, as PostgreSQL does', () => {
    for (const c of [' ', '\t', '\n', '\r', '\f', '\v']) assert.ok(isSpace(c), JSON.stringify(c))
    for (const c of ['\u00a0', '\u2028', '\u3000', '\ufeff', 'a', ';', undefined]) assert.ok(!isSpace(c), JSON.stringify(c))
  })

  it('finds the start of a statement past whitespace, `;` and comments; a line comment ends at \\n or \\r, block comments nest', () => {
    assert.equal(statementStart('-- done\r\n;  commit'), 12)
    assert.equal(statementStart('-- x\rcommit'), 5)
    assert.equal(statementStart('/* a /* nested */ b */ rollback'), 23)
    assert.equal(statementStart('\u00a0begin'), 0, 'U+00A0 separates nothing: the statement starts with it')
    assert.equal(statementStart('/* unterminated /* */ commit'), 28)
    assert.equal(statementStart('explain /* c */ (analyze)', 7), 16)
  })

  it('ends comments, and tells none from one', () => {
    assert.equal(endOfComment('-- a\nb', 0), 4)
    assert.equal(endOfComment('-- a\rb', 0), 4)
    assert.equal(endOfComment('/* /* */ */x', 0), 11)
    assert.equal(endOfComment('- -', 0), 0)
    assert.equal(endOfComment('/ *', 0), 0)
  })

  it('ends string literals, quoted identifiers and dollar quotes as PostgreSQL does', () => {
    assert.equal(quoted(`'it''s' x`), `'it''s'`)
    assert.equal(quoted(`'a\\' x'`), `'a\\'`, 'a standard string takes no backslash escapes')
    assert.equal(quoted(`E'a\\'b' x`, 1), `'a\\'b'`)
    assert.equal(quoted(`e'a\\\\' x`, 1), `'a\\\\'`)
    assert.equal(quoted(`some'a\\' x`, 4), `'a\\'`, 'the e of an identifier makes no escape string')
    assert.equal(quoted(`"a""b" x`), `"a""b"`)
    assert.equal(quoted('$$ a $ b $$ x'), '$$ a $ b $$')
    assert.equal(quoted('$tag$ $$ $TAG$ $tag$ x'), '$tag$ $$ $TAG$ $tag$')
    assert.equal(quoted('$1 x'), '', 'a parameter is no dollar quote')
    assert.equal(quoted('a$b$ x$b$', 1), '', '$ continues an identifier')
    assert.equal(quoted(`'open`), `'open`, 'an unterminated one runs to the end')
    assert.equal(quoted('x'), '')
  })

  it('continues an E\'\' string past a newline (whitespace and line comments around it), with its escapes', () => {
    assert.equal(quoted(`E'a'\n'\\' b' c`, 1), `'a'\n'\\' b'`)
    assert.equal(quoted(`E'a' -- note\r '\\' b' c`, 1), `'a' -- note\r '\\' b'`)
    assert.equal(quoted(`E'a'\n\n'b'\n'c\\'' d`, 1), `'a'\n\n'b'\n'c\\''`)
    assert.equal(quoted(`E'a' '\\' b'`, 1), `'a'`, 'no newline, no continuation')
    assert.equal(quoted(`E'a'\u00a0\n'\\' b'`, 1), `'a'`, 'U+00A0 is no whitespace')
    assert.equal(quoted(`E'a' /* c */\n'\\' b'`, 1), `'a'`, 'a block comment ends the string')
  })

  it('skips a comment or a quoted token alike, and finds $n parameters outside identifiers', () => {
    assert.equal(endOfCommentOrQuoted(`-- $1\n$1`, 0), 5)
    assert.equal(endOfCommentOrQuoted(`'$1' $1`, 0), 4)
    assert.equal(endOfCommentOrQuoted(`$1`, 0), 0)
    assert.deepEqual(parameterAt('x = $12::int', 4), { number: '12', end: 7 })
    assert.equal(parameterAt('a$1', 1), undefined)
    assert.equal(parameterAt('$a', 0), undefined)
    assert.deepEqual(parameterAt('($1)', 1), { number: '1', end: 3 })
  })
})
