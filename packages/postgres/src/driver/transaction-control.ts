import { TenantryError } from '@tenantry/core'

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
  const start = statementStart(sql)
  const head = /^([A-Za-z]+)(?:\s+([A-Za-z]+))?(?:\s+([A-Za-z]+))?/.exec(sql.slice(start))
  if (head === null) return undefined
  const [word, second, third] = [head[1]!.toUpperCase(), head[2]?.toUpperCase(), head[3]?.toUpperCase()]
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
 * True when `sql` is a CALL. Outside an explicit transaction block a procedure
 * may COMMIT (on PostgreSQL), ending the implicit transaction that carries the
 * scope's settings, and run the rest of its body without them; inside one it
 * cannot ("invalid transaction termination").
 *
 * @example
 * isProcedureCall('-- nightly\nCALL refresh_totals()') // true
 */
export function isProcedureCall(sql: string): boolean {
  return /^call\b/i.test(sql.slice(statementStart(sql)))
}

/** QUERY_REFUSED for a CALL outside a transaction in a tenant scope. */
export function procedureCallRefused(): TenantryError {
  return new TenantryError('QUERY_REFUSED', 'CALL outside a transaction is refused in a tenant scope: a procedure called there may COMMIT and run the rest of its body without the scope\'s settings; call it inside db.transaction() (where it cannot commit)')
}

/** Where the first statement of `sql` begins: after whitespace, comments (line, and nested block ones) and `;`. */
function statementStart(sql: string): number {
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    if (c === ';' || /\s/.test(c)) {
      i++
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1
      i += 2
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
    } else {
      break
    }
  }
  return i
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

const MODE = String.raw`(?:isolation\s+level\s+(?:serializable|repeatable\s+read|read\s+committed|read\s+uncommitted)|read\s+write|read\s+only|(?:not\s+)?deferrable)`
const MODES = String.raw`(?:\s+${MODE}(?:\s*,?\s*${MODE})*)?`
const BEGIN = new RegExp(String.raw`^(?:begin(?:\s+(?:work|transaction))?|start\s+transaction)(${MODES})\s*;?\s*$`, 'i')
const SET_TRANSACTION = new RegExp(String.raw`^set\s+transaction(${MODES})\s*;?\s*$`, 'i')
const COMMIT = /^(?:commit|end)(?:\s+(?:work|transaction))?\s*;?\s*$/i
const ROLLBACK = /^(?:rollback|abort)(?:\s+(?:work|transaction))?\s*;?\s*$/i

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
  const text = sql.slice(statementStart(sql)).trim()
  if (BEGIN.test(text)) return { kind: 'begin', sql: text.replace(/;\s*$/, '') }
  if (SET_TRANSACTION.test(text)) return { kind: 'set transaction', sql: text.replace(/;\s*$/, '') }
  if (COMMIT.test(text)) return { kind: 'commit' }
  if (ROLLBACK.test(text)) return { kind: 'rollback' }
  return undefined
}
