import { TenantryError } from '@tenantry/core'
import { statementStart, tokenStart } from './sql-lexer.ts'

// Where a statement's first word is, read as PostgreSQL's lexer reads it (whitespace, comments, `;`).
export { statementStart }

/**
 * The transaction-control statement `sql` starts with, upper-cased (`COMMIT`,
 * `ROLLBACK`, `BEGIN`, …), or undefined. Leading whitespace, comments and empty
 * statements (`;`) are skipped, as the server skips them. Savepoints
 * (`SAVEPOINT`, `RELEASE`, `ROLLBACK TO`) are not transaction control here:
 * they stay inside the transaction and keep its settings.
 *
 * @example
 * transactionControlOf('-- done\ncommit and chain') // 'COMMIT'
 * transactionControlOf('rollback to savepoint s')   // undefined
 */
export function transactionControlOf(sql: string): string | undefined {
  const [word, second, third] = leadingWords(sql, 3)
  switch (word) {
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ABORT':
      return word
    case 'START':
      return second === 'TRANSACTION' ? 'START TRANSACTION' : undefined
    case 'PREPARE':
      return second === 'TRANSACTION' ? 'PREPARE TRANSACTION' : undefined
    case 'ROLLBACK': {
      const to = second === 'WORK' || second === 'TRANSACTION' ? third : second
      return to === 'TO' ? undefined : 'ROLLBACK'
    }
    default:
      return undefined
  }
}

/**
 * True when `sql` is `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`, which
 * stays inside the transaction (its command tag is ROLLBACK too).
 *
 * @example
 * isRollbackToSavepoint('rollback to savepoint sp1') // true
 */
export function isRollbackToSavepoint(sql: string): boolean {
  const [word, second, third] = leadingWords(sql, 3)
  return word === 'ROLLBACK' && (second === 'TO' || ((second === 'WORK' || second === 'TRANSACTION') && third === 'TO'))
}

/**
 * The first `count` words of `sql`, upper-cased, read as PostgreSQL's lexer
 * reads them: whitespace and comments (`begin/**\/transaction`) both separate
 * words. The list stops at the first token that is not a plain word.
 *
 * @example
 * leadingWords('prepare/* 2pc *\/transaction \'x\'', 2) // ['PREPARE', 'TRANSACTION']
 */
export function leadingWords(sql: string, count: number): string[] {
  const words: string[] = []
  let i = statementStart(sql)
  while (words.length < count) {
    const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 64))
    if (word === null) break
    words.push(word[0].toUpperCase())
    i = tokenStart(sql, i + word[0].length)
  }
  return words
}

/**
 * True when `sql` is a CALL. Outside an explicit transaction block a procedure
 * may COMMIT (on PostgreSQL), ending the implicit transaction that carries the
 * scope's settings, and run the rest of its body without them; inside one it
 * cannot ("invalid transaction termination").
 *
 * @example
 * isProcedureCall('-- nightly\nCALL refresh_totals()') // true
 */
export function isProcedureCall(sql: string): boolean {
  return /^call(?![A-Za-z0-9_$])/i.test(sql.slice(statementStart(sql)))
}

/** QUERY_REFUSED for a CALL outside a transaction in a tenant scope. */
export function procedureCallRefused(): TenantryError {
  return new TenantryError('QUERY_REFUSED', 'CALL outside a transaction is refused in a tenant scope: a procedure called there may COMMIT and run the rest of its body without the scope\'s settings; call it inside db.transaction() (where it cannot commit)')
}

/**
 * True when `sql` is an anonymous code block (`DO $$ … $$`). Outside an
 * explicit transaction its body may COMMIT, like a procedure's; anywhere, it
 * may `EXECUTE` what no check of the text can see.
 *
 * @example
 * isDoBlock('do $$ begin commit; end $$') // true
 */
export function isDoBlock(sql: string): boolean {
  return /^do(?![A-Za-z0-9_$])/i.test(sql.slice(statementStart(sql)))
}

/**
 * True when `sql` is `EXPLAIN ANALYZE` (or `EXPLAIN (ANALYZE …)`, any spelling
 * PostgreSQL takes): it runs the statement and reports the rows each plan node
 * removed, the rows row-level security filtered out among them, so a tenant
 * would learn how many rows other tenants hold.
 *
 * @example
 * isExplainAnalyze('explain (costs off, analyse) select 1') // true
 * isExplainAnalyze('explain select 1')                     // false
 */
export function isExplainAnalyze(sql: string): boolean {
  const start = statementStart(sql)
  if (!/^explain(?![A-Za-z0-9_$])/i.test(sql.slice(start))) return false
  const next = statementStart(sql, start + 'explain'.length)
  if (sql[next] === '(') return !plainExplainOptions(sql, next + 1)
  return /^analy[sz]e(?![A-Za-z0-9_$])/i.test(sql.slice(next))
}

/**
 * True when the EXPLAIN option list starting at `from` (after its `(`) is made
 * of bare words, numbers and commas only (comments and whitespace between),
 * none of them ANALYZE, up to its `)`. Anything else (a quoted or `U&"…"`
 * name, a quoted value, an unterminated list) is not plain: the caller refuses
 * it rather than decode every spelling PostgreSQL accepts.
 */
function plainExplainOptions(sql: string, from: number): boolean {
  let i = from
  for (;;) {
    i = statementStart(sql, i)
    const c = sql[i]
    if (c === undefined) return false
    if (c === ')') return true
    if (c === ',') {
      i++
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_$])|^[0-9]+(?![A-Za-z0-9_$])/.exec(sql.slice(i, i + 64))
    if (word === null || /^analy[sz]e$/i.test(word[0])) return false
    i += word[0].length
  }
}

/**
 * True when `sql` is `LOCK [TABLE] …`: a table lock is not filtered by
 * row-level security, so a tenant holding one (ACCESS EXCLUSIVE in an open
 * transaction) would stop every other tenant's queries on the table.
 *
 * @example
 * isLockStatement('lock table projects in access exclusive mode') // true
 */
export function isLockStatement(sql: string): boolean {
  return /^lock(?![A-Za-z0-9_$])/i.test(sql.slice(statementStart(sql)))
}

/**
 * True when `sql` is `ALTER ROLE | USER | GROUP | DATABASE | SYSTEM …`: what
 * outlives the session. Any role may give itself session defaults (`ALTER
 * ROLE current_user SET …`) or a new password, so a tenant's SQL run as the
 * shared runtime role could set what every later login of that role starts
 * with: behind a transaction pooler, every other tenant's transactions.
 *
 * @example
 * isRoleChange('-- nightly\nALTER ROLE current_user SET statement_timeout = 1') // true
 */
export function isRoleChange(sql: string): boolean {
  const [word, second] = leadingWords(sql, 2)
  return word === 'ALTER' && second !== undefined && ['ROLE', 'USER', 'GROUP', 'DATABASE', 'SYSTEM'].includes(second)
}

/**
 * Refuses, in a tenant scope, what no wall could see into: a DO block (its body
 * may EXECUTE anything, and commit outside a transaction), EXPLAIN ANALYZE
 * (it counts the rows row-level security removed: other tenants' rows),
 * LOCK (a table lock holds up every tenant) and ALTER ROLE (a default given to
 * the shared runtime role holds for its later logins). One check for every
 * path SQL of the caller's takes: the Kysely driver (SQL the plugin could not
 * see into), `withClient`'s scoped client and the scoped pg.Pool.
 *
 * @example
 * refuseInTenantScope('explain analyze select * from projects') // throws QUERY_REFUSED
 */
export function refuseInTenantScope(sql: string): void {
  if (isDoBlock(sql)) throw statementRefused('do')
  if (isExplainAnalyze(sql)) throw statementRefused('explain analyze')
  if (isLockStatement(sql)) throw statementRefused('lock')
  if (isRoleChange(sql)) throw statementRefused('alter role')
}

/** QUERY_REFUSED for SQL a tenant scope may not run: a DO block, EXPLAIN ANALYZE, LOCK, ALTER ROLE. */
export function statementRefused(what: 'do' | 'explain analyze' | 'lock' | 'alter role'): TenantryError {
  switch (what) {
    case 'do':
      return new TenantryError('QUERY_REFUSED', 'DO blocks are refused in a tenant scope: their body may commit (outside a transaction) or EXECUTE SQL no check sees; put the logic in a function your migrations create, and call it')
    case 'explain analyze':
      return new TenantryError('QUERY_REFUSED', 'EXPLAIN ANALYZE is refused in a tenant scope (and so is an EXPLAIN option list with quoted names or values, which could spell it): it reports the rows row-level security filtered out, which are other tenants\' rows; use EXPLAIN without ANALYZE and with bare options, or analyze as the owner')
    case 'lock':
      return new TenantryError('QUERY_REFUSED', 'LOCK is refused in a tenant scope: a table lock is not limited to the tenant\'s rows, so it would hold up every other tenant; lock rows instead (SELECT … FOR UPDATE)')
    case 'alter role':
      return new TenantryError('QUERY_REFUSED', 'ALTER ROLE, USER, GROUP, DATABASE and SYSTEM are refused in a tenant scope: a default or password a tenant\'s SQL gave the shared runtime role would hold for every later login of it, other tenants\' too; change roles as their owner, in a migration or runAsSystem()')
  }
}

/**
 * QUERY_REFUSED for a transaction-control statement in SQL Tenantry runs for a
 * scope: the scope's settings live in the transaction Tenantry opened, so a
 * COMMIT (or a BEGIN, a ROLLBACK) in the SQL would run what follows without
 * them.
 */
export function transactionControlRefused(command: string, where: 'statement' | 'client'): TenantryError {
  const instead = where === 'client'
    ? 'withClient() runs its callback in one transaction and commits it when the callback returns (rolls back when it throws); use SAVEPOINT / ROLLBACK TO SAVEPOINT inside it'
    : 'use db.transaction() for a transaction, and trx.savepoint() inside one'
  return new TenantryError('QUERY_REFUSED', `${command} in SQL is refused: the scope's settings hold only inside the transaction Tenantry opened for it, so statements after a ${command} would run without them; ${instead}`)
}

/** What a pg client's transaction statement asks for, as a Tenantry-scoped client carries it out. */
export type ClientTransactionCommand =
  | { readonly kind: 'begin'; readonly sql: string }
  | { readonly kind: 'commit' }
  | { readonly kind: 'rollback' }
  | { readonly kind: 'set transaction'; readonly sql: string }

const W = String.raw`[ \t\n\r\f\v]`
const MODE = String.raw`(?:isolation${W}+level${W}+(?:serializable|repeatable${W}+read|read${W}+committed|read${W}+uncommitted)|read${W}+write|read${W}+only|(?:not${W}+)?deferrable)`
const MODES = String.raw`(?:${W}+${MODE}(?:${W}*,?${W}*${MODE})*)?`
const BEGIN = new RegExp(String.raw`^(?:begin(?:${W}+(?:work|transaction))?|start${W}+transaction)(${MODES})${W}*;?${W}*$`, 'i')
const SET_TRANSACTION = new RegExp(String.raw`^set${W}+transaction(${MODES})${W}*;?${W}*$`, 'i')
const COMMIT = new RegExp(String.raw`^(?:commit|end)(?:${W}+(?:work|transaction))?${W}*;?${W}*$`, 'i')
const ROLLBACK = new RegExp(String.raw`^(?:rollback|abort)(?:${W}+(?:work|transaction))?${W}*;?${W}*$`, 'i')
const ONE_MODE = new RegExp(MODE, 'gi')

/** The transaction modes in `text`, written out as Tenantry sends them (never the caller's own text). */
function modesOf(text: string): string {
  return (text.match(ONE_MODE) ?? []).map((mode) => mode.toLowerCase().split(/[ \t\n\r\f\v]+/).join(' ')).join(', ')
}

/**
 * The transaction statement an ORM or a pg user sends on a checked-out client
 * (`BEGIN`, `START TRANSACTION ISOLATION LEVEL …`, `SET TRANSACTION …`,
 * `COMMIT`, `END`, `ROLLBACK`, `ABORT`), or undefined for any other SQL.
 * Only these plain forms: `COMMIT AND CHAIN`, `PREPARE TRANSACTION` and
 * several statements in one string are not among them (the caller refuses
 * them as transaction control).
 *
 * @example
 * clientTransactionCommand('BEGIN ISOLATION LEVEL SERIALIZABLE') // { kind: 'begin', sql: 'BEGIN ISOLATION LEVEL SERIALIZABLE' }
 * clientTransactionCommand('commit and chain')                   // undefined
 */
export function clientTransactionCommand(sql: string): ClientTransactionCommand | undefined {
  const text = sql.slice(statementStart(sql))
  const begin = BEGIN.exec(text)
  if (begin !== null) {
    const modes = modesOf(begin[1] ?? '')
    return { kind: 'begin', sql: modes === '' ? 'begin' : `start transaction ${modes}` }
  }
  const set = SET_TRANSACTION.exec(text)
  if (set !== null) {
    const modes = modesOf(set[1] ?? '')
    if (modes === '') return undefined
    return { kind: 'set transaction', sql: `set transaction ${modes}` }
  }
  if (COMMIT.test(text)) return { kind: 'commit' }
  if (ROLLBACK.test(text)) return { kind: 'rollback' }
  return undefined
}
