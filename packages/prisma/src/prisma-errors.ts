import { errorCatalogue, TenantryError, type TenantryErrorCode } from '@tenantry/core'

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
 * Use it where errors become HTTP answers, so that TENANT_CONTEXT_MISSING,
 * TENANT_SUSPENDED or SCOPE_MISMATCH get their own status instead of a 500.
 *
 * @example
 * import { httpErrorResponse } from '@tenantry/core'
 * import { fromPrismaError } from '@tenantry/prisma'
 *
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
