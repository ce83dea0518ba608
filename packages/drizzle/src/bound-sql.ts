import { TenantryError } from '@tenantry/core'
import { endOfCommentOrQuoted, parameterAt } from '@tenantry/postgres/internal'
import { sql, type SQL } from 'drizzle-orm'

/**
 * PostgreSQL text with `$1`, `$2`… placeholders as a Drizzle `sql` object whose
 * placeholders are bound parameters (`sql.param`): the values never enter the
 * SQL text. Placeholders inside string literals, quoted identifiers, dollar-quoted
 * strings and comments are left alone, the text read as PostgreSQL reads it (by
 * the SQL lexer of `@tenantry/postgres/internal`, which the tenant driver uses
 * too). A placeholder with no value, or a value no placeholder uses, is
 * VALIDATION_FAILED (PostgreSQL refuses both too).
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
    const skipped = endOfCommentOrQuoted(text, i)
    const parameter = skipped === i ? parameterAt(text, i) : undefined
    if (parameter !== undefined) {
      const index = Number(parameter.number)
      if (index < 1 || index > parameters.length) {
        throw new TenantryError('VALIDATION_FAILED', `$${parameter.number} has no parameter: ${parameters.length} given`)
      }
      flush(i)
      chunks.push(sql`${sql.param(parameters[index - 1])}`)
      used.add(index)
      i = parameter.end
      pending = i
    } else {
      i = skipped === i ? i + 1 : skipped
    }
  }
  flush(text.length)
  if (used.size !== parameters.length) {
    const unused = parameters.map((_, index) => index + 1).filter((n) => !used.has(n))
    throw new TenantryError('VALIDATION_FAILED', `parameter(s) ${unused.map((n) => `$${n}`).join(', ')} given but not used in the SQL`)
  }
  return sql.join(chunks)
}
