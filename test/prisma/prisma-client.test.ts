/**
 * Prisma 7 over `tenantry.pool` (a TenantPool) on PGlite and PostgreSQL
 * (TENANTRY_PG_URL): `new PrismaClient({ adapter: new PrismaPg(tenantry.pool) })`,
 * the shared model's tables behind it. A create without tenantId lands in the
 * current tenant; reads, updates, deletes and nested writes see only the
 * tenant's rows; a row naming another tenant is refused; outside a scope nothing
 * runs. Interactive, batch and nested transactions, isolation levels, raw SQL,
 * two tenants interleaved, and Prisma's cross-request findUnique batching. Beside
 * each, the traffic Prisma's adapter sends to the pool, and in which scope. See
 * docs/prisma.md.
 */
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { PrismaPg } from '@prisma/adapter-pg'
import { currentScope, isTenantryError, runAsSystem, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { expectCode, testBackends } from '@tenantry/test-kit'
import type { PrismaFixtureClient, ProjectRow } from './fixture-client.ts'
import { openPrismaFixture, type PrismaFixture } from './prisma-fixture.ts'
import { fromPrismaError, scopePrismaBatches, tenantryPrisma } from '@tenantry/prisma'
import { recordPoolTraffic, type PoolTraffic } from './pool-traffic.ts'

/** `BEGIN`, `COMMIT`, … as sent; Prisma's generated SQL as `<verb> <first table>`. */
function outline(text: string): string {
  const generated = /^(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b.*?"public"\."(\w+)"/s.exec(text)
  return generated ? `${generated[1]} ${generated[2]}` : text
}

/** The traffic as one line per event. */
function timeline(traffic: PoolTraffic): string[] {
  return traffic.events.map((event) => {
    switch (event.via) {
      case 'pool.connect': return 'pool.connect()'
      case 'client.release': return event.withError ? 'client.release(error)' : 'client.release()'
      case 'pool.end': return 'pool.end()'
      default: return `${event.via}: ${outline(event.text)}`
    }
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A Prisma error whose driver error carried this SQLSTATE. */
function expectSqlState(sqlState: string): (error: unknown) => boolean {
  return (error) => {
    assert.equal((error as Error).name, 'PrismaClientKnownRequestError', String(error))
    assert.equal((fromPrismaError(error) as { code?: unknown }).code, sqlState, String(error))
    return true
  }
}

for (const backend of testBackends()) {
  describe(`Prisma 7 over tenantry.pool on ${backend.name}`, () => {
    let fixture: PrismaFixture
    let prisma: PrismaFixtureClient
    let traffic: PoolTraffic
    let acme: ScopedTenant
    let hooli: ScopedTenant

    /** Runs `fn` in the tenant's scope. */
    const as = <T>(tenant: ScopedTenant, fn: () => Promise<T>): Promise<T> => runWithTenant(tenant, fn)

    before(async () => {
      fixture = await openPrismaFixture(backend)
      prisma = fixture.prisma
      ;({ acme, hooli } = fixture.tenants)
      traffic = recordPoolTraffic(fixture.pool)
    })
    after(async () => {
      traffic?.detach()
      await fixture?.close()
    })
    beforeEach(async () => {
      await fixture.clearShared()
      traffic.clear()
    })

    describe('writes and reads in the current tenant', () => {
      it('creates a project without tenantId in the current tenant, one pool.query() in its scope', async () => {
        const project = await as(acme, () => prisma.project.create({ data: { name: 'Apollo' } }))
        assert.equal(project.tenantId, acme.id)
        assert.match(project.id, /^[0-9a-f-]{36}$/)
        assert.deepEqual(timeline(traffic), ['pool.query: INSERT INTO projects'])
        assert.equal(traffic.statements()[0]?.tenant, acme.slug)
      })

      it('reads, counts, updates and deletes only the tenant\'s own rows', async () => {
        const mine = await as(acme, () => prisma.project.create({ data: { name: 'Apollo' } }))
        const theirs = await as(hooli, () => prisma.project.create({ data: { name: 'Apollo' } }))
        assert.deepEqual(await as(acme, () => prisma.project.findMany()), [mine])
        assert.equal(await as(hooli, () => prisma.project.count()), 1)
        assert.equal(await as(hooli, () => prisma.project.findUnique({ where: { tenantId_id: { tenantId: acme.id, id: mine.id } } })), null)
        assert.equal(await as(hooli, () => prisma.project.findFirst({ where: { id: mine.id } })), null)
        assert.deepEqual(await as(hooli, () => prisma.project.updateMany({ where: { name: 'Apollo' }, data: { name: 'renamed' } })), { count: 1 })
        await assert.rejects(as(hooli, () => prisma.project.update({ where: { tenantId_id: { tenantId: acme.id, id: mine.id } }, data: { name: 'stolen' } })), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'P2025') // no record found: row-level security hides it
          return true
        })
        await assert.rejects(as(hooli, () => prisma.project.delete({ where: { tenantId_id: { tenantId: acme.id, id: mine.id } } })), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'P2025')
          return true
        })
        assert.deepEqual(await as(hooli, () => prisma.project.deleteMany()), { count: 1 })
        assert.deepEqual(await as(acme, () => prisma.project.findMany()), [mine], 'acme\'s row is unchanged')
        assert.equal(await as(hooli, () => prisma.project.count()), 0)
        assert.equal(theirs.tenantId, hooli.id)
      })

      it('writes a project with its tasks in one nested write, every row in the tenant, inside a transaction of the same scope', async () => {
        const project = await as(acme, () => prisma.project.create({
          data: { name: 'Gemini', tasks: { create: [{ title: 'launch' }, { title: 'dock' }] } },
          include: { tasks: true },
        }))
        assert.deepEqual(project.tasks?.map((task) => [task.tenantId, task.projectId, task.title]).sort(), [[acme.id, project.id, 'dock'], [acme.id, project.id, 'launch']])
        assert.deepEqual(timeline(traffic), [
          'pool.connect()',
          'client.query: BEGIN',
          'client.query: INSERT INTO projects',
          'client.query: INSERT INTO tasks',
          'client.query: SELECT projects',
          'client.query: SELECT tasks',
          'client.query: COMMIT',
          'client.release()',
        ])
        assert.deepEqual(new Set(traffic.statements().map((s) => s.tenant)), new Set([acme.slug]))
        assert.deepEqual(await as(hooli, () => prisma.task.findMany()), [])
        assert.deepEqual(await as(hooli, () => prisma.project.findMany({ include: { tasks: true } })), [])
      })

      it('refuses a create that names another tenant: row-level security\'s 42501 inside Prisma\'s error', async () => {
        await assert.rejects(as(acme, () => prisma.project.create({ data: { tenantId: hooli.id, name: 'planted' } })), expectSqlState('42501'))
        await assert.rejects(as(acme, () => prisma.$executeRaw`insert into projects (tenant_id, name) values (${hooli.id}::uuid, 'planted')`), expectSqlState('42501'))
        assert.equal(await as(hooli, () => prisma.project.count()), 0)
      })

      it('refuses a task that points at another tenant\'s project: the composite foreign key (23503)', async () => {
        const theirs = await as(hooli, () => prisma.project.create({ data: { name: 'Mercury' } }))
        await assert.rejects(as(acme, () => prisma.task.create({ data: { projectId: theirs.id, title: 'hijack' } })), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'P2003') // foreign key constraint failed
          return true
        })
      })

      it('runs nothing outside a scope: TENANT_CONTEXT_MISSING arrives as the code of a PrismaClientKnownRequestError', async () => {
        for (const query of [() => prisma.project.findMany(), () => prisma.project.create({ data: { name: 'nobody' } }), () => prisma.$queryRaw`select 1`]) {
          await assert.rejects(query(), (error: Error & { code?: string }) => {
            assert.equal(error.name, 'PrismaClientKnownRequestError')
            assert.equal(error.code, 'TENANT_CONTEXT_MISSING')
            assert.match(error.message, /outside any scope/)
            assert.equal(isTenantryError(error), false, 'Prisma rethrows it as its own error, without a cause')
            assert.ok(expectCode('TENANT_CONTEXT_MISSING')(fromPrismaError(error)))
            return true
          })
        }
        assert.equal(await as(acme, () => prisma.project.count()), 0)
      })

      it('refuses a transaction outside a scope: an interactive one with the TenantryError itself, a batch with Prisma\'s error', async () => {
        await assert.rejects(prisma.$transaction((tx) => tx.project.count()), expectCode('TENANT_CONTEXT_MISSING'))
        await assert.rejects(prisma.$transaction([prisma.project.count(), prisma.task.count()]), (error: Error & { code?: string }) => {
          assert.equal(error.name, 'PrismaClientKnownRequestError')
          assert.equal(error.code, 'TENANT_CONTEXT_MISSING')
          return true
        })
        assert.deepEqual(timeline(traffic), ['pool.connect()', 'pool.connect()'])
      })

      it('runs a query returned unawaited from runWithTenant in that scope (core starts the lazy PrismaPromise inside it)', async () => {
        await as(acme, () => prisma.project.create({ data: { name: 'Apollo' } }))
        assert.equal(await runWithTenant(acme, () => prisma.project.count()), 1)
        assert.equal(await runWithTenant(hooli, () => prisma.project.count()), 0)
        assert.deepEqual(traffic.statements().map((s) => s.tenant), [acme.slug, acme.slug, hooli.slug])
      })

      it('scopes $queryRaw: raw SQL sees the tenant\'s rows only', async () => {
        await as(acme, () => prisma.project.create({ data: { name: 'Apollo' } }))
        await as(hooli, () => prisma.project.create({ data: { name: 'Vostok' } }))
        const rows = await as(hooli, () => prisma.$queryRaw<{ tenant_id: string; name: string }[]>`select tenant_id, name from projects`)
        assert.deepEqual(rows, [{ tenant_id: hooli.id, name: 'Vostok' }])
        const [counted] = await as(acme, () => prisma.$queryRaw<{ n: number }[]>`select count(*)::int as n from projects where tenant_id = ${hooli.id}::uuid`)
        assert.equal(counted?.n, 0)
      })
    })

    describe('transactions', () => {
      it('commits an interactive transaction on one client checked out in the caller\'s scope', async () => {
        const { project, task } = await as(hooli, () => prisma.$transaction(async (tx) => {
          const project = await tx.project.create({ data: { name: 'Mercury' } })
          const task = await tx.task.create({ data: { projectId: project.id, title: 'orbit' } })
          return { project, task }
        }))
        assert.equal(project.tenantId, hooli.id)
        assert.equal(task.tenantId, hooli.id)
        assert.deepEqual(timeline(traffic), [
          'pool.connect()',
          'client.query: BEGIN',
          'client.query: INSERT INTO projects',
          'client.query: INSERT INTO tasks',
          'client.query: COMMIT',
          'client.release()',
        ])
        assert.deepEqual(traffic.events.map((event) => 'tenant' in event ? event.tenant : '-'), [hooli.slug, hooli.slug, hooli.slug, hooli.slug, hooli.slug, '-'])
        assert.equal(await as(hooli, () => prisma.task.count()), 1)
      })

      it('rolls back an interactive transaction whose callback throws', async () => {
        await assert.rejects(as(acme, () => prisma.$transaction(async (tx) => {
          await tx.project.create({ data: { name: 'never' } })
          throw new Error('callback failed')
        })), /callback failed/)
        assert.deepEqual(timeline(traffic), [
          'pool.connect()',
          'client.query: BEGIN',
          'client.query: INSERT INTO projects',
          'client.query: ROLLBACK',
          'client.release()',
        ])
        assert.equal(await as(acme, () => prisma.project.count()), 0)
      })

      it('runs a Serializable transaction: SET TRANSACTION after BEGIN takes effect, and the scope still holds', async () => {
        await as(hooli, () => prisma.project.create({ data: { name: 'Vostok' } }))
        traffic.clear()
        const seen = await as(acme, () => prisma.$transaction(async (tx) => {
          const [level] = await tx.$queryRaw<{ level: string }[]>`select current_setting('transaction_isolation') as level`
          await tx.project.create({ data: { name: 'Apollo' } })
          return { level: level?.level, projects: await tx.project.findMany() }
        }, { isolationLevel: 'Serializable' }))
        assert.equal(seen.level, 'serializable')
        assert.deepEqual(seen.projects.map((p) => [p.tenantId, p.name]), [[acme.id, 'Apollo']])
        assert.deepEqual(traffic.texts().slice(0, 3).map(outline), ['BEGIN', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', "select current_setting('transaction_isolation') as level"])
      })

      it('runs a nested $transaction as a savepoint, and rolls back only to it when the inner callback throws', async () => {
        await as(acme, () => prisma.$transaction(async (tx) => {
          await tx.project.create({ data: { name: 'outer' } })
          await assert.rejects(tx.$transaction(async (inner) => {
            await inner.project.create({ data: { name: 'inner' } })
            throw new Error('inner failed')
          }), /inner failed/)
        }))
        assert.deepEqual((await as(acme, () => prisma.project.findMany())).map((p) => p.name), ['outer'])
        assert.deepEqual(traffic.texts().map(outline).slice(0, 7), [
          'BEGIN', 'INSERT INTO projects', 'SAVEPOINT prisma_sp_0', 'INSERT INTO projects', 'ROLLBACK TO SAVEPOINT prisma_sp_0', 'RELEASE SAVEPOINT prisma_sp_0', 'COMMIT',
        ])
      })

      it('rolls back an interactive transaction that outlives its timeout, and sends none of the callback\'s later queries', async () => {
        await assert.rejects(as(acme, () => prisma.$transaction(async (tx) => {
          await tx.project.create({ data: { name: 'too slow' } })
          await sleep(400)
          return tx.project.count()
        }, { timeout: 200 })), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'P2028')
          return true
        })
        assert.deepEqual(timeline(traffic), ['pool.connect()', 'client.query: BEGIN', 'client.query: INSERT INTO projects', 'client.query: ROLLBACK', 'client.release()'])
        assert.equal(await as(acme, () => prisma.project.count()), 0)
      })

      it('runs a batch $transaction([...]) on one client in the caller\'s scope', async () => {
        const [created, projects, tasks] = await as(hooli, () => prisma.$transaction([
          prisma.project.create({ data: { name: 'Vostok' } }),
          prisma.project.count(),
          prisma.task.count(),
        ]))
        assert.equal(created.tenantId, hooli.id)
        assert.deepEqual([projects, tasks], [1, 0])
        assert.deepEqual(timeline(traffic), [
          'pool.connect()',
          'client.query: BEGIN',
          'client.query: INSERT INTO projects',
          'client.query: SELECT projects',
          'client.query: SELECT tasks',
          'client.query: COMMIT',
          'client.release()',
        ])
        assert.equal(await as(acme, () => prisma.project.count()), 0)
      })
    })

    describe('two tenants at once', () => {
      it('never mixes two tenants\' rows when their operations interleave', async () => {
        const work = (tenant: ScopedTenant, n: number) => as(tenant, async () => {
          const project = await prisma.project.create({ data: { name: `${tenant.slug}-${n}`, tasks: { create: [{ title: `t${n}` }] } }, include: { tasks: true } })
          const seen = await prisma.project.findMany({ include: { tasks: true } })
          const inTx = await prisma.$transaction(async (tx) => tx.task.findMany())
          const raw = await prisma.$queryRaw<{ tenant_id: string }[]>`select tenant_id from tasks`
          return { project, seen, inTx, raw }
        })
        const runs = await Promise.all(Array.from({ length: 24 }, (_, n) => work(n % 2 === 0 ? acme : hooli, n)))
        runs.forEach(({ project, seen, inTx, raw }, n) => {
          const tenant = n % 2 === 0 ? acme : hooli
          assert.equal(project.tenantId, tenant.id)
          for (const row of seen) {
            assert.equal(row.tenantId, tenant.id)
            assert.ok(row.name.startsWith(tenant.slug))
            for (const task of row.tasks ?? []) assert.equal(task.tenantId, tenant.id)
          }
          assert.ok(inTx.every((task) => task.tenantId === tenant.id))
          assert.ok(raw.every((row) => row.tenant_id === tenant.id))
        })
        assert.equal(await as(acme, () => prisma.project.count()), 12)
        assert.equal(await as(hooli, () => prisma.task.count()), 12)
      })
    })

    describe('Prisma batches queries of one tick: tenantryPrisma keeps each batch in its own tenant', () => {
      let a: ProjectRow
      let b: ProjectRow
      beforeEach(async () => {
        a = await as(acme, () => prisma.project.create({ data: { name: 'acme project' } }))
        b = await as(hooli, () => prisma.project.create({ data: { name: 'hooli project' } }))
        traffic.clear()
      })
      const key = (row: ProjectRow) => ({ where: { tenantId_id: { tenantId: row.tenantId, id: row.id } } })

      it('sends two tenants\' findUnique of one tick as two statements, each in its own scope, and each finds its own row', async () => {
        const found = await Promise.all([
          as(acme, () => prisma.project.findUnique(key(a))),
          as(hooli, () => prisma.project.findUnique(key(b))),
        ])
        assert.deepEqual(found.map((row) => row?.name ?? null), ['acme project', 'hooli project'])
        const statements = traffic.statements()
        assert.deepEqual(statements.map((s) => s.tenant).sort(), [acme.slug, hooli.slug].sort())
        for (const statement of statements) {
          const own = statement.tenant === acme.slug ? a : b
          const other = statement.tenant === acme.slug ? b : a
          assert.ok(statement.values?.includes(own.id) && !statement.values?.includes(other.id), 'one tenant\'s keys per statement')
        }
      })

      it('answers null to a second caller who asks, in the same tick, for the first caller\'s key', async () => {
        const found = await Promise.all([
          as(acme, () => prisma.project.findUnique(key(a))),
          as(hooli, () => prisma.project.findUnique(key(a))),
          as(hooli, () => prisma.project.findUniqueOrThrow(key(a))).catch((error: Error) => error.name),
        ])
        assert.deepEqual(found.map((row) => (typeof row === 'string' ? row : row?.name ?? null)), ['acme project', null, 'PrismaClientKnownRequestError'])
      })

      it('still batches one tenant\'s findUnique calls of one tick into one statement', async () => {
        const again = await as(acme, () => prisma.project.create({ data: { name: 'acme second' } }))
        traffic.clear()
        const found = await Promise.all([
          as(acme, () => prisma.project.findUnique(key(a))),
          as(acme, () => prisma.project.findUnique(key(again))),
          as(hooli, () => prisma.project.findUnique(key(b))),
        ])
        assert.deepEqual(found.map((row) => row?.name ?? null), ['acme project', 'acme second', 'hooli project'])
        const statements = traffic.statements()
        assert.equal(statements.length, 2)
        assert.equal(statements.filter((s) => s.tenant === acme.slug).length, 1)
      })

      it('runs two tenants\' interactive transactions whose queries meet in one tick, each in its own scope', async () => {
        const results = await Promise.all([
          as(acme, () => prisma.$transaction((tx) => Promise.all([tx.project.findUnique(key(a)), tx.project.findUnique(key(b))]))),
          as(hooli, () => prisma.$transaction((tx) => Promise.all([tx.project.findUnique(key(b)), tx.project.findUnique(key(a))]))),
        ])
        assert.deepEqual(results.map((pair) => pair.map((row) => row?.name ?? null)), [['acme project', null], ['hooli project', null]])
      })

      it('keeps two tenants\' batch $transaction([...]) of one tick each in its own tenant', async () => {
        const [forAcme, forHooli] = await Promise.all([
          as(acme, () => prisma.$transaction([prisma.project.create({ data: { name: 'batch acme' } }), prisma.project.count()])),
          as(hooli, () => prisma.$transaction([prisma.project.create({ data: { name: 'batch hooli' } }), prisma.project.count()])),
        ])
        assert.equal(forAcme[0].tenantId, acme.id)
        assert.equal(forHooli[0].tenantId, hooli.id)
        assert.deepEqual([forAcme[1], forHooli[1]], [2, 2])
        assert.deepEqual(await fixture.database.pool.query('select tenant_id, count(*)::int as n from projects group by tenant_id order by 1').then((r) => r.rows),
          [acme.id, hooli.id].sort().map((id) => ({ tenant_id: id, n: 2 })))
      })

      it('never crosses tenants under many interleaved findUnique calls, batch and interactive transactions', async () => {
        const work = (tenant: ScopedTenant, own: ProjectRow, other: ProjectRow, n: number) => as(tenant, async () => {
          const [mine, theirs, batch, itx] = await Promise.all([
            prisma.project.findUnique(key(own)),
            prisma.project.findUnique(key(other)),
            prisma.$transaction([prisma.task.create({ data: { projectId: own.id, title: `t${n}` } }), prisma.task.count()]),
            prisma.$transaction(async (tx) => tx.project.findMany()),
          ])
          return { mine, theirs, task: batch[0], itx }
        })
        const runs = await Promise.all(Array.from({ length: 24 }, (_, n) => (n % 2 === 0 ? work(acme, a, b, n) : work(hooli, b, a, n))))
        runs.forEach(({ mine, theirs, task, itx }, n) => {
          const tenant = n % 2 === 0 ? acme : hooli
          assert.equal(mine?.tenantId, tenant.id)
          assert.equal(theirs, null)
          assert.equal(task.tenantId, tenant.id)
          assert.deepEqual(itx.map((row) => row.tenantId), [tenant.id])
        })
        assert.equal(await as(acme, () => prisma.task.count()), 12)
        assert.equal(await as(hooli, () => prisma.task.count()), 12)
      })

      it('never merges a suspended tenant\'s findUnique into the same tenant\'s active batch: it is refused (TENANT_SUSPENDED)', async () => {
        const suspended: ScopedTenant = { ...acme, status: 'suspended' }
        const [active, refused] = await Promise.allSettled([
          as(acme, () => prisma.project.findUnique(key(a))),
          as(suspended, () => prisma.project.findUnique(key(a))),
        ])
        assert.equal(active.status === 'fulfilled' ? active.value?.name : active.reason, 'acme project')
        assert.equal(refused.status, 'rejected')
        assert.ok(expectCode('TENANT_SUSPENDED')(fromPrismaError((refused as PromiseRejectedResult).reason)))
      })

      it('sends each runAsSystem\'s findUnique in its own system scope (its own reason in the audit)', async () => {
        const reasons = new Set<string>()
        const pool = fixture.pool as unknown as { query: (...args: unknown[]) => unknown }
        const original = pool.query
        pool.query = function (this: unknown, ...args: unknown[]) {
          const scope = currentScope()
          if (scope?.kind === 'system') reasons.add(scope.reason)
          return original.apply(this, args)
        }
        try {
          await Promise.all([
            runAsSystem('reason one', () => prisma.project.findUnique(key(a))),
            runAsSystem('reason two', () => prisma.project.findUnique(key(a))),
          ])
        } finally {
          pool.query = original
        }
        assert.deepEqual([...reasons].sort(), ['reason one', 'reason two'])
      })

      it('keeps the batches of a client made by $extends, which shares the scoped dataloader', async () => {
        const extended = prisma.$extends({})
        const found = await Promise.all([
          as(acme, () => extended.project.findUnique(key(a))),
          as(hooli, () => extended.project.findUnique(key(a))),
        ])
        assert.deepEqual(found.map((row) => row?.name ?? null), ['acme project', null])
      })

      it('the negative control: a client without tenantryPrisma sends hooli\'s findUnique in acme\'s scope, and hooli gets acme\'s row', async () => {
        const raw = fixture.unscopedBatches
        const found = await Promise.all([
          as(acme, () => raw.project.findUnique(key(a))),
          as(hooli, () => raw.project.findUnique(key(a))),
        ])
        // Prisma's own batching, as docs/prisma.md describes it: one statement, in the first caller's scope.
        assert.deepEqual(found.map((row) => row?.name ?? null), ['acme project', 'acme project'])
        assert.deepEqual(traffic.statements().map((s) => s.tenant), [acme.slug])
      })

      it('keeps each tenant to its own rows with findFirst, which Prisma does not batch', async () => {
        const found = await Promise.all([
          as(acme, () => prisma.project.findFirst({ where: { id: a.id } })),
          as(hooli, () => prisma.project.findFirst({ where: { id: b.id } })),
          as(hooli, () => prisma.project.findFirst({ where: { id: a.id } })),
        ])
        assert.deepEqual(found.map((row) => row?.name ?? null), ['acme project', 'hooli project', null])
        assert.equal(traffic.statements().length, 3)
      })
    })

    describe('tenantryPrisma and scopePrismaBatches refuse what they cannot protect', () => {
      it('refuses a plain pg.Pool (VALIDATION_FAILED): it runs SQL outside every tenant scope', () => {
        assert.throws(() => tenantryPrisma(fixture.database.pool as never, (adapter) => new fixture.client.PrismaClient({ adapter })), expectCode('VALIDATION_FAILED'))
      })
      it('refuses an object that is not a Prisma 7 client (ISOLATION_MISCONFIGURED)', () => {
        assert.throws(() => scopePrismaBatches({}), expectCode('ISOLATION_MISCONFIGURED'))
        assert.throws(() => scopePrismaBatches({ _requestHandler: { dataloader: { options: { batchBy: () => undefined } } } }), expectCode('ISOLATION_MISCONFIGURED'))
      })
      it('is harmless twice: the client is returned as it is', async () => {
        assert.equal(scopePrismaBatches(prisma), prisma)
        assert.equal(await as(acme, () => prisma.project.count()), 0)
      })
    })

    it('sends a schema tenant\'s model query to "public"."projects", not to its own schema: Prisma qualifies every table', async () => {
      await as(fixture.tenants.globex, () => prisma.project.findMany()).catch(() => undefined)
      assert.match(traffic.texts()[0] ?? '', /"public"\."projects"/)
    })

    it('leaves tenantry.pool open on $disconnect', async () => {
      const second = new fixture.client.PrismaClient({ adapter: new PrismaPg(fixture.pool) })
      assert.equal(await as(acme, () => second.project.count()), 0)
      await second.$disconnect()
      assert.equal(await as(acme, () => prisma.project.count()), 0)
    })
  })
}
