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
import { testBackends } from '@tenantry/test-kit'
import { PRISMA_FIXTURE_TABLES } from './fixture-tables.ts'
import { openPrismaFixture, TENANTS_BY_MODEL, type PrismaFixture, type TenantName } from './prisma-fixture.ts'
import { prismaRunner } from '@tenantry/prisma'

const MODELS: readonly IsolationModelName[] = ['shared', 'schema', 'database']

const ALWAYS = ['setup.rows', 'select.by-primary-key', 'select.by-filter', 'select.schema-qualified', 'aggregate.count', 'join.inner:projects', 'join.left:projects',
  'join.right:projects', 'join.full:projects', 'subquery.exists:tasks', 'subquery.scalar:tasks', 'reference.cross-tenant', 'update.by-primary-key', 'delete.by-primary-key',
  'a.rows-unchanged', 'a.sees-only-own-rows', 'cleanup']

function failedNames(report: ConformanceReport): string[] {
  return report.failures.map((c) => `${c.name}${c.table === undefined ? '' : `[${c.table}]`}`).sort()
}

/** Every check the kit runs for tenants of these models ran, and passed. */
function assertPassedWithCoverage(report: ConformanceReport, a: IsolationModelName, b: IsolationModelName): void {
  assert.equal(report.passed, true, formatConformanceFailures(report))
  const names = new Set(report.checks.map((c) => c.name))
  for (const expected of ALWAYS) assert.ok(names.has(expected), `missing check ${expected}`)
  assert.equal(names.has('insert.foreign-tenant'), b === 'shared', 'insert.foreign-tenant runs when B has a tenant column')
  assert.equal(names.has('insert.own-placement'), a !== 'shared' || b !== 'shared', 'insert.own-placement runs when a tenant is placed')
}

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
        assertPassedWithCoverage(await check(a, b), model, model)
      })
    }

    for (const [aModel, bModel] of [['shared', 'schema'], ['database', 'shared'], ['schema', 'database']] as const) {
      it(`keeps a ${aModel} tenant A and a ${bModel} tenant B apart`, async () => {
        assertPassedWithCoverage(await check(TENANTS_BY_MODEL[aModel][0], TENANTS_BY_MODEL[bModel][1]), aModel, bModel)
      })
    }

    it('fails when row-level security is off on a shared table: Prisma\'s SQL has no second wall', async () => {
      const { database } = fixture
      await database.pool.query('alter table tasks disable row level security')
      try {
        const report = await check('acme', 'hooli')
        assert.equal(report.passed, false)
        const failed = failedNames(report)
        for (const leak of ['select.by-primary-key[tasks]', 'select.by-filter[tasks]', 'aggregate.count[tasks]', 'join.left:projects[tasks]',
          'update.by-primary-key[tasks]', 'delete.by-primary-key[tasks]', 'insert.foreign-tenant[tasks]', 'a.rows-unchanged[tasks]']) {
          assert.ok(failed.includes(leak), `${leak} should fail; failed: ${failed.join(', ')}`)
        }
        assert.deepEqual(failed.filter((name) => name.endsWith('[projects]')), [], 'projects keeps its policy')
      } finally {
        await database.pool.query('alter table tasks enable row level security')
        await fixture.clearShared()
      }
      assertPassedWithCoverage(await check('acme', 'hooli'), 'shared', 'shared')
    })
  })
}
