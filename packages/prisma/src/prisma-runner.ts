import { TenantryError } from '@tenantry/core'
import type { SqlRunner, SqlTransactionSettings } from '@tenantry/postgres/testing'
import { fromPrismaError } from './prisma-errors.ts'

/** Prisma's transaction isolation levels, by their SQL names. */
const LEVELS = {
  'read uncommitted': 'ReadUncommitted',
  'read committed': 'ReadCommitted',
  'repeatable read': 'RepeatableRead',
  serializable: 'Serializable',
} as const satisfies Record<NonNullable<SqlTransactionSettings['isolationLevel']>, string>

/** What prismaRunner uses of a Prisma client, or of an interactive transaction's `tx`. */
export interface PrismaRawQueries {
  $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T>
  $transaction<T>(fn: (tx: PrismaRawQueries) => Promise<T>, options?: { isolationLevel?: (typeof LEVELS)[keyof typeof LEVELS] }): Promise<T>
}

/**
 * Runs each statement with `$queryRawUnsafe(sql, ...parameters)`: rows come back
 * as objects, so a RETURNING or a SELECT answers its rows (Prisma reports no
 * affected-row count there; the kit needs none). `transaction` is an interactive
 * `$transaction` (inside one, `tx.$transaction` is a savepoint) whose `tx`
 * serves the callback's runner. Prisma has no access mode: `read only` is refused.
 * Errors come out as `fromPrismaError` gives them back, so the kit can tell a
 * wall (SQLSTATE 42501, a TenantryError) from any other failure.
 *
 * @example
 * import { checkTenantIsolation } from '@tenantry/postgres/testing'
 * import { prismaRunner } from '@tenantry/prisma'
 *
 * await checkTenantIsolation({ runner: prismaRunner(prisma), pool: ownerPool, tables: ['projects', 'tasks'], tenants: [acme, initech] })
 */
export function prismaRunner(client: PrismaRawQueries): SqlRunner {
  return {
    async query(sql, parameters) {
      try {
        return { rows: await client.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...parameters) }
      } catch (error) {
        throw fromPrismaError(error)
      }
    },
    transaction<T>(fn: (runner: SqlRunner) => Promise<T>, settings?: SqlTransactionSettings): Promise<T> {
      if (settings?.accessMode === 'read only') return Promise.reject(new TenantryError('VALIDATION_FAILED', 'Prisma transactions have no access mode: run a read-only transaction through tenantry.pool or Kysely'))
      const level = settings?.isolationLevel
      return client.$transaction((tx) => fn(prismaRunner(tx)), level === undefined ? {} : { isolationLevel: LEVELS[level] })
    },
  }
}
