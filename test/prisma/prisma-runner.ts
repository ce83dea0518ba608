/**
 * A `SqlRunner` over a Prisma client, so the conformance kit's statements go
 * through Prisma (and its driver adapter) to the pool under it:
 * `$queryRawUnsafe` with bound parameters for every statement, an interactive
 * `$transaction` for transactions.
 *
 * @example
 * const prisma = new PrismaClient({ adapter: new PrismaPg(tenantry.pool) })
 * await checkTenantIsolation({ runner: prismaRunner(prisma), pool: target.pool, tables: ['projects', 'tasks'], tenants: [acme, initech] })
 */
import { errorCatalogue, TenantryError, type TenantryErrorCode } from '@tenantry/core'
import type { SqlRunner, SqlTransactionSettings } from '@tenantry/postgres/testing'
import type { PrismaFixtureQueries, PrismaIsolationLevel } from './fixture-client.ts'

const LEVELS: Readonly<Record<NonNullable<SqlTransactionSettings['isolationLevel']>, PrismaIsolationLevel>> = {
  'read uncommitted': 'ReadUncommitted',
  'read committed': 'ReadCommitted',
  'repeatable read': 'RepeatableRead',
  serializable: 'Serializable',
}

interface PrismaKnownError {
  readonly code?: unknown
  readonly message: string
  readonly meta?: { readonly driverAdapterError?: { readonly cause?: { readonly originalCode?: unknown } } }
}

/**
 * What Prisma hides of an error from under it. Prisma rethrows everything as a
 * PrismaClientKnownRequestError without a `cause`: a TenantryError from the
 * pool keeps only its `code` (`TENANT_CONTEXT_MISSING`), a database error its
 * SQLSTATE in `meta.driverAdapterError.cause.originalCode` (the `code` is
 * Prisma's own, `P2010` for raw SQL). This gives back a TenantryError, or an
 * error whose `code` is the SQLSTATE, each with Prisma's error as its `cause`;
 * any other error as it is.
 *
 * @example
 * try {
 *   await prisma.project.create({ data: { tenantId: otherTenant.id, name: 'x' } })
 * } catch (error) {
 *   const inner = fromPrismaError(error) // { code: '42501', cause: PrismaClientKnownRequestError }
 * }
 */
export function fromPrismaError(error: unknown): unknown {
  const known = error as PrismaKnownError
  if (typeof known?.code !== 'string') return error
  if (Object.hasOwn(errorCatalogue, known.code)) return new TenantryError(known.code as TenantryErrorCode, known.message, { cause: error })
  const sqlState = known.meta?.driverAdapterError?.cause?.originalCode
  if (typeof sqlState !== 'string') return error
  return Object.assign(new Error(known.message, { cause: error }), { code: sqlState })
}

/**
 * Runs each statement with `$queryRawUnsafe(sql, ...parameters)`: rows come back
 * as objects, so a RETURNING or a SELECT answers its rows (Prisma reports no
 * affected-row count there; the kit needs none). `transaction` is an interactive
 * `$transaction` (inside one, `tx.$transaction` is a savepoint) whose `tx`
 * serves the callback's runner. Prisma has no access mode: `read only` is refused.
 * Errors come out as `fromPrismaError` gives them back, so the kit can tell a
 * wall (SQLSTATE 42501, a TenantryError) from any other failure.
 */
export function prismaRunner(client: PrismaFixtureQueries): SqlRunner {
  return {
    async query(sql, parameters) {
      try {
        return { rows: await client.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...parameters) }
      } catch (error) {
        throw fromPrismaError(error)
      }
    },
    transaction<T>(fn: (runner: SqlRunner) => Promise<T>, settings?: SqlTransactionSettings): Promise<T> {
      if (settings?.accessMode === 'read only') return Promise.reject(new Error('Prisma transactions have no access mode'))
      const level = settings?.isolationLevel
      return client.$transaction((tx) => fn(prismaRunner(tx)), level === undefined ? {} : { isolationLevel: LEVELS[level] })
    },
  }
}
