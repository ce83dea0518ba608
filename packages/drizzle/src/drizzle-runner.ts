import { TenantryError } from '@tenantry/core'
import type { SqlRunner, SqlRunnerResult, SqlTransactionSettings } from '@tenantry/postgres/testing'
import { is } from 'drizzle-orm'
import { PgTransaction, type PgDatabase, type PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { boundSql } from './bound-sql.ts'

/** A Drizzle PostgreSQL database or transaction, whatever its driver and schema. */
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>

/**
 * The error the driver raised, when Drizzle wrapped it (`DrizzleQueryError`,
 * drizzle-orm 0.44 and later, keeps it as `cause`): a TenantryError, or the
 * PostgreSQL error with its SQLSTATE in `code`.
 */
function driverError(error: unknown): unknown {
  const wrapped = error instanceof Error && 'query' in error && 'params' in error && error.cause !== undefined
  return wrapped ? error.cause : error
}

/** node-postgres answers `{ rows, rowCount }`; postgres.js an array of rows with `count`; PGlite's driver `affectedRows`. */
function resultOf(answer: unknown): SqlRunnerResult {
  if (Array.isArray(answer)) {
    const count = (answer as { count?: unknown }).count
    return { rows: answer as Record<string, unknown>[], rowCount: typeof count === 'number' ? count : answer.length }
  }
  const { rows, rowCount, affectedRows } = answer as { rows?: Record<string, unknown>[]; rowCount?: number | null; affectedRows?: number }
  return { rows: rows ?? [], rowCount: rowCount ?? affectedRows ?? null }
}

/**
 * A `SqlRunner` (from `@tenantry/postgres/testing`) over a Drizzle database or
 * transaction: each statement goes through `db.execute()` with its `$n`
 * placeholders as bound parameters (`sql.param`, never inlined), and
 * `transaction()` through `db.transaction()` (in a transaction: a nested one,
 * which Drizzle runs as a savepoint). Errors are the driver's, as Drizzle
 * wrapped them: a TenantryError or the PostgreSQL error. Meant for the
 * conformance kit: run its checks through the same Drizzle instance your
 * application queries with.
 *
 * @example
 * import { assertTenantIsolation } from '@tenantry/postgres/testing'
 *
 * const db = tenantryDrizzle(tenantry)
 * await assertTenantIsolation({ runner: drizzleRunner(db), pool: adminPool, tables: ['projects', 'tasks'] })
 */
export function drizzleRunner(db: AnyPgDatabase): SqlRunner {
  if (typeof db?.execute !== 'function' || typeof db.transaction !== 'function') {
    throw new TenantryError('VALIDATION_FAILED', 'drizzleRunner needs a Drizzle PostgreSQL database or transaction (drizzle(…), tenantryDrizzle(…), or the tx of db.transaction)')
  }
  const nested = is(db, PgTransaction)
  return {
    async query(text: string, parameters: readonly unknown[]): Promise<SqlRunnerResult> {
      const query = boundSql(text, parameters)
      try {
        return resultOf(await db.execute(query))
      } catch (error) {
        throw driverError(error)
      }
    },
    transaction<T>(fn: (runner: SqlRunner) => Promise<T>, settings?: SqlTransactionSettings): Promise<T> {
      if (nested && settings !== undefined) {
        throw new TenantryError('VALIDATION_FAILED', 'Transaction settings (isolationLevel, accessMode) apply to the outer transaction only; this one runs as a savepoint')
      }
      const body = (tx: AnyPgDatabase): Promise<T> => fn(drizzleRunner(tx))
      return settings === undefined ? db.transaction(body) : db.transaction(body, settings)
    },
  }
}
