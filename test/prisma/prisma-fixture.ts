/**
 * What the Prisma tests stand on: one test database (PGlite or PostgreSQL) with
 * the fixture tables, the three isolation models built by createTenantry (the
 * shared model over `projects` and `tasks`, installed, so their tenant_id
 * defaults to tenantry_guard.tenant()), two tenants placed in each model, and a
 * Prisma client over `tenantry.pool` made by `tenantryPrisma`, as an application
 * sets it up (and one without it, whose batches cross tenants).
 *
 * @example
 * const fixture = await openPrismaFixture(backend)
 * await runWithTenant(fixture.tenants.acme, async () => await fixture.prisma.project.create({ data: { name: 'Apollo' } }))
 * await fixture.close()
 */
import { randomUUID } from 'node:crypto'
import { PrismaPg } from '@prisma/adapter-pg'
import type { IsolationModelName, ScopedTenant } from '@tenantry/core'
import type { TenantPool } from '@tenantry/postgres'
import { tenantryPrisma } from '@tenantry/prisma'
import { dropRoles, openModels, uniqueName, type TestBackend, type TestDatabase, type TestModels } from '@tenantry/test-kit'
import type pg from 'pg'
import { importPrismaFixtureClient, type PrismaFixtureClient, type PrismaFixtureClientModule } from './fixture-client.ts'
import { createPlacedPrismaFixtureTables, createPrismaFixtureTables, PRISMA_FIXTURE_TABLES } from './fixture-tables.ts'

export type TenantName = 'acme' | 'hooli' | 'globex' | 'umbrella' | 'initech' | 'soylent'

/** Two tenants per model: the conformance kit's A and B. */
export const TENANTS_BY_MODEL: Readonly<Record<IsolationModelName, readonly [TenantName, TenantName]>> = {
  shared: ['acme', 'hooli'],
  schema: ['globex', 'umbrella'],
  database: ['initech', 'soylent'],
}

export interface PrismaFixture {
  readonly database: TestDatabase
  readonly models: TestModels
  /** `tenantry.pool`: the TenantPool the Prisma client runs on. */
  readonly pool: TenantPool
  readonly client: PrismaFixtureClientModule
  /** `tenantryPrisma(tenantry, (adapter) => new PrismaClient({ adapter }))`: batches kept per tenant. */
  readonly prisma: PrismaFixtureClient
  /** `new PrismaClient({ adapter: new PrismaPg(tenantry.pool) })` alone: Prisma's own cross-request batching, the negative control. */
  readonly unscopedBatches: PrismaFixtureClient
  readonly tenants: Readonly<Record<TenantName, ScopedTenant>>
  /** Removes every shared tenant's rows (as the owner). */
  clearShared(): Promise<void>
  close(): Promise<void>
}

const createPlacedTables = async (client: pg.ClientBase): Promise<void> => {
  await client.query(createPlacedPrismaFixtureTables)
}

export async function openPrismaFixture(backend: TestBackend): Promise<PrismaFixture> {
  const client = await importPrismaFixtureClient()
  const database = await backend.createDatabase()
  await database.pool.query(createPrismaFixtureTables)
  const role = uniqueName('tenantry_app')
  const models = await openModels(backend, database, { role, shared: { tables: [...PRISMA_FIXTURE_TABLES] }, budget: 8 })
  const tenants = {} as Record<TenantName, ScopedTenant>
  for (const [model, names] of Object.entries(TENANTS_BY_MODEL) as [IsolationModelName, readonly TenantName[]][]) {
    for (const name of names) {
      let tenant: ScopedTenant = { id: randomUUID(), slug: `${name}-${randomUUID().slice(0, 6)}`, status: 'active', isolation: model }
      if (model === 'schema') tenant = { ...tenant, placement: await models.schemas.provision(tenant, createPlacedTables) }
      if (model === 'database') tenant = { ...tenant, placement: await models.databases.provision(tenant, createPlacedTables) }
      tenants[name] = tenant
    }
  }
  const pool = models.tenantry.pool
  const prisma = tenantryPrisma(models.tenantry, (adapter) => new client.PrismaClient({ adapter }))
  const unscopedBatches = new client.PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    database, models, pool, client, prisma, unscopedBatches, tenants,
    async clearShared() {
      await database.pool.query('delete from tasks; delete from projects')
    },
    async close() {
      await prisma.$disconnect()
      await unscopedBatches.$disconnect()
      for (const name of TENANTS_BY_MODEL.database) await models.databases.deprovision(tenants[name]).catch(() => undefined)
      await models.close()
      await dropRoles(database, [role])
      await database.close()
    },
  }
}
