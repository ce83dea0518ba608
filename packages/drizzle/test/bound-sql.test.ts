/**
 * boundSql: `$n` SQL (what the conformance kit and Kysely compile) as a Drizzle
 * sql object whose values are bound parameters, never SQL text.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { expectCode } from '@tenantry/test-kit'
import { PgDialect } from 'drizzle-orm/pg-core'
import { boundSql } from '../src/bound-sql.ts'

const dialect = new PgDialect()
const compiled = (text: string, parameters: readonly unknown[]) => {
  const { sql, params } = dialect.sqlToQuery(boundSql(text, parameters))
  return { sql, params }
}

describe('boundSql', () => {
  it('binds every placeholder as a parameter, values of any type as they are', () => {
    const when = new Date(0)
    const ids = ['a', 'b']
    assert.deepEqual(compiled('select * from "t" where id = any($1::text[]) and at < $2 and meta = $3', [ids, when, { k: 1 }]), {
      sql: 'select * from "t" where id = any($1::text[]) and at < $2 and meta = $3',
      params: [ids, when, { k: 1 }],
    })
  })

  it('numbers the parameters as they appear: a placeholder used twice binds its value twice', () => {
    assert.deepEqual(compiled('select $2::int + $1::int, $2::int', [1, 2]), { sql: 'select $1::int + $2::int, $3::int', params: [2, 1, 2] })
  })

  it('leaves $n alone in string literals, quoted identifiers, dollar quotes, comments and identifiers', () => {
    const text = [
      `select '$1', 'it''s $1', E'\\'$1', "col$1", $$ $1 $$, $tag$ $1 $tag$, a$1, x`,
      `-- $1 in a comment`,
      `/* $1 /* nested $1 */ $1 */ from t where y = $1`,
    ].join('\n')
    assert.deepEqual(compiled(text, [7]), { sql: text, params: [7] })
  })

  it('reads the text as PostgreSQL does: a line comment ends at \\r too, so a placeholder after one is bound', () => {
    // PostgreSQL's lexer (and the tenant driver's statementStart) ends `--` at \n or \r; reading on to the \n would hide $1.
    assert.deepEqual(compiled('select 1 -- a comment\r, $1::int', [7]), { sql: 'select 1 -- a comment\r, $1::int', params: [7] })
    assert.deepEqual(compiled('select 1 -- $1 hidden\r\n, $1::int', [7]), { sql: 'select 1 -- $1 hidden\r\n, $1::int', params: [7] })
  })

  it('keeps backslash escapes in the segments that continue an E\'\' string on a later line', () => {
    // E'a' then, after a newline (and a line comment), '\' $2': one string, a' $2, as PostgreSQL reads it.
    for (const text of [`select E'a'\n'\\' $2', $1::int`, `select E'a' -- note\n\r '\\' $2', $1::int`]) {
      assert.deepEqual(compiled(text, [7]), { sql: text, params: [7] })
    }
  })

  it('refuses a placeholder with no value, and a value no placeholder uses', () => {
    assert.throws(() => boundSql('select $2', [1]), expectCode('VALIDATION_FAILED', /\$2 has no parameter/))
    assert.throws(() => boundSql('select $1', [1, 2]), expectCode('VALIDATION_FAILED', /\$2 given but not used/))
    assert.throws(() => boundSql('select 1', [1]), expectCode('VALIDATION_FAILED'))
    assert.deepEqual(compiled('select 1', []), { sql: 'select 1', params: [] })
  })
})
