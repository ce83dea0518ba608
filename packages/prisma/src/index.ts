/**
 * @tenantry/prisma: Prisma ORM (7.x, `@prisma/adapter-pg`) on Tenantry.
 * `tenantryPrisma(tenantry, (adapter) => new PrismaClient({ adapter }))` is a
 * Prisma client over the tenant-scoped pool whose batched queries stay in
 * their own tenant's scope; `scopePrismaBatches(client)` does the latter for a
 * client you build yourself. `fromPrismaError` gives back the TenantryError or
 * SQLSTATE Prisma hides; `prismaRunner` runs the conformance kit through Prisma.
 */
export { tenantryPrisma } from './tenantry-prisma.ts'
export { scopePrismaBatches } from './scoped-batches.ts'
export { fromPrismaError } from './prisma-errors.ts'
export { prismaRunner, type PrismaRawQueries } from './prisma-runner.ts'
export type { TenantPoolSource } from '@tenantry/postgres'
