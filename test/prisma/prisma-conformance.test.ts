/**
 * The isolation conformance kit through Prisma (prismaRunner over a PrismaClient
 * on `tenantry.pool`): every check passes for two tenants of each model, and for
 * tenants of different models; and it fails when a wall is broken on purpose
 * (row-level security switched off on a shared table), because Prisma's SQL has
 * no second wall: the pool adds no query rewrite.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IsolationModelName } from '@tenantry/core'
import { checkTenantIsolation, formatConformanceFailures, type ConformanceReport } from '@tenantry/postgres/testing'
import { assertConformanceCoverage, failedCheckNames, testBackends } from '@tenantry/test-kit'
import { PRISMA_FIXTURE_TABLES } from './fixture-tables.ts'
import { openPrismaFixture, TENANTS_BY_MODEL, type PrismaFixture, type TenantName } from './prisma-fixture.ts'
import { prismaRunner } from '@tenantry/prisma'

const MODELS: readonly IsolationModelName[] = ['shared', 'schema', 'database']

for (const backend of testBackends()) {
  describe(`the conformance kit through Prisma on ${backend.name}`, () => {
    let fixture: PrismaFixture

    before(async () => {
      fixture = await openPrismaFixture(backend)
    })

    after(async () => {
      await fixture?.close()
    })

    /** The kit through Prisma, as the fixture's tenants A and B. */
    function check(a: TenantName, b: TenantName): Promise<ConformanceReport> {
      const { prisma, database, tenants } = fixture
      return checkTenantIsolation({ runner: prismaRunner(prisma), pool: database.pool, tables: PRISMA_FIXTURE_TABLES, tenants: [tenants[a], tenants[b]] })
    }

    for (const model of MODELS) {
      it(`passes every check for two ${model} tenants`, async () => {
        const [a, b] = TENANTS_BY_MODEL[model]
        assertConformanceCoverage(await check(a, b), model, model)
      })
    }

    for (const [aModel, bModel] of [['shared', 'schema'], ['database', 'shared'], ['schema', 'database']] as const) {
      it(`keeps a ${aModel} tenant A and a ${bModel} tenant B apart`, async () => {
        assertConformanceCoverage(await check(TENANTS_BY_MODEL[aModel][0], TENANTS_BY_MODEL[bModel][1]), aModel, bModel)
      })
    }

    it('fails when row-level security is off on a shared table: Prisma\'s SQL has no second wall', async () => {
      const { database } = fixture
      await database.pool.query('alter table tasks disable row level security')
      try {
        const report = await check('acme', 'hooli')
        assert.equal(report.passed, false)
        const failed = failedCheckNames(report)
        for (const leak of ['select.by-primary-key[tasks]', 'select.by-filter[tasks]', 'aggregate.count[tasks]', 'join.left:projects[tasks]',
          'update.by-primary-key[tasks]', 'delete.by-primary-key[tasks]', 'insert.foreign-tenant[tasks]', 'a.rows-unchanged[tasks]']) {
          assert.ok(failed.includes(leak), `${leak} should fail; failed: ${failed.join(', ')}`)
        }
        assert.deepEqual(failed.filter((name) => name.endsWith('[projects]')), [], 'projects keeps its policy')
      } finally {
        await database.pool.query('alter table tasks enable row level security')
        await fixture.clearShared()
      }
      assertConformanceCoverage(await check('acme', 'hooli'), 'shared', 'shared')
    })
  })
}
