import { PrismaPg } from '@prisma/adapter-pg'
import { tenantPoolOf, type TenantPoolSource } from '@tenantry/postgres'
import { scopePrismaBatches } from './scoped-batches.ts'

/**
 * A Prisma client (7.x, driver adapters) over Tenantry's scoped pool: `create`
 * receives `@prisma/adapter-pg`'s adapter over `tenantry.pool` and returns
 * `new PrismaClient({ adapter, ... })`; the client comes back with its batched
 * queries kept in their own tenant's scope (see scopePrismaBatches).
 *
 * Every statement then runs for the tenant in context: a shared tenant as the
 * runtime role under row-level security (a `create` without `tenantId` lands
 * in the current tenant through the column's default; naming another tenant
 * is refused with SQLSTATE 42501), a database tenant in its own database.
 * Outside a scope nothing runs (TENANT_CONTEXT_MISSING). Interactive and batch
 * transactions hold one connection of the scope. Prisma qualifies every table
 * with the schema of its datasource ("public" by default), so schema-per-tenant
 * tenants reach their tables through raw SQL (`$queryRaw`), not the model API:
 * see docs/prisma.md.
 *
 * @example
 * import { createTenantry, runWithTenant } from 'tenantry'
 * import { tenantryPrisma } from '@tenantry/prisma'
 * import { PrismaClient } from './generated/prisma/client.ts'
 *
 * const tenantry = await createTenantry(config)
 * export const prisma = tenantryPrisma(tenantry, (adapter) => new PrismaClient({ adapter }))
 *
 * await runWithTenant(acme, () => prisma.project.create({ data: { name: 'Apollo' } }))   // tenantId: acme
 * const mine = await runWithTenant(acme, () => prisma.project.findMany())                // acme's only
 */
export function tenantryPrisma<C extends object>(source: TenantPoolSource, create: (adapter: PrismaPg) => C): C {
  const adapter = new PrismaPg(tenantPoolOf(source, 'tenantryPrisma'))
  return scopePrismaBatches(create(adapter))
}
