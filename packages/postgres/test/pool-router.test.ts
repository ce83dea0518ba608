import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import { isTenantryError, type TenantryErrorCode } from '@tenantry/core'
import pg from 'pg'
import {
  PoolRouter,
  serverDatabases,
  type PoolRouterOptions,
  type TenantDatabases,
} from '../src/pool-router/index.ts'
import { pgliteDatabases } from '../src/pglite/index.ts'
import { uniqueName, startThrowawayServer, throwawayServerUnsupported, type ThrowawayServer, expectCode } from '@tenantry/test-kit'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `check` holds (state that settles asynchronously: closes, timers). */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await sleep(10)
  }
}

/** Routers made by a test, closed after it whatever happened. */
const routers: PoolRouter[] = []
function router(options: PoolRouterOptions): PoolRouter {
  const made = new PoolRouter(options)
  routers.push(made)
  return made
}
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()))
})

/** Counts what a TenantDatabases does, and the most connections it held at once. */
function counting(inner: TenantDatabases) {
  const counts = { connects: 0, closes: 0, open: 0, peak: 0 }
  const databases: TenantDatabases = {
    ...inner,
    async connect(key) {
      counts.connects += 1
      counts.peak = Math.max(counts.peak, ++counts.open)
      const connection = await inner.connect(key).catch((error: unknown) => {
        counts.open -= 1
        throw error
      })
      const close = async (): Promise<void> => {
        counts.closes += 1
        await connection.close()
        counts.open -= 1
      }
      return { client: connection.client, close }
    },
  }
  return Object.assign(counts, { databases })
}

/** An in-memory stand-in for a server: connects and closes take a few milliseconds. */
function fakeDatabases(missing: readonly string[] = []): TenantDatabases {
  return {
    backend: 'postgres',
    async connect(key) {
      await sleep(1 + Math.random() * 3)
      if (missing.includes(key.database)) throw Object.assign(new Error(`database "${key.database}" does not exist`), { code: '3D000' })
      const client = Object.assign(new EventEmitter(), { database: key.database, query: async () => ({ rows: [] }) }) as unknown as pg.Client
      return { client, close: () => sleep(1 + Math.random() * 3) }
    },
  }
}

describe('PoolRouter', () => {
  describe('budget and queue (in-memory databases)', () => {
    it('rejects options and keys that make no sense when they are given, not later', async () => {
      assert.throws(() => new PoolRouter({ databases: fakeDatabases(), budget: 0 }), expectCode('VALIDATION_FAILED'))
      assert.throws(() => new PoolRouter({ databases: fakeDatabases(), budget: 5, acquireTimeoutMs: -1 }), expectCode('VALIDATION_FAILED'))
      assert.throws(() => serverDatabases({}), expectCode('VALIDATION_FAILED'))
      const r = router({ databases: fakeDatabases(), budget: 2 })
      await assert.rejects(r.acquire({ database: '' }), expectCode('VALIDATION_FAILED'))
      await assert.rejects(r.acquire({ server: 'no/such', database: 'x' }), expectCode('VALIDATION_FAILED'))
    })

    it('keeps the open connections within the budget under random load on many databases', async () => {
      const fake = counting(fakeDatabases())
      const r = router({ databases: fake.databases, budget: 3, maxPerDatabase: 2, acquireTimeoutMs: 20_000 })
      const served = await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          r.withClient({ database: `db${(i * 7) % 8}` }, async (client) => {
            await sleep(Math.random() * 3)
            return (client as unknown as { database: string }).database === `db${(i * 7) % 8}`
          }),
        ),
      )
      assert.ok(served.every(Boolean), 'every request got a connection to its own database')
      assert.ok(fake.peak <= 3, `at most 3 connections existed at once (saw ${fake.peak})`)
      const stats = r.stats()
      assert.ok(stats.peakOpenConnections <= 3)
      assert.ok(stats.reclaimed > 0, 'idle connections were reclaimed for other databases')
      assert.equal(stats.checkedOut, 0)
      assert.equal(stats.waiters, 0)
    })

    it('serves queued acquires in the order they came, across databases', async () => {
      const r = router({ databases: fakeDatabases(), budget: 1, maxPerDatabase: 1 })
      const held = await r.acquire({ database: 'a' })
      const order: string[] = []
      const queued = ['b', 'a', 'c'].map((database) =>
        r.acquire({ database }).then((client) => {
          order.push(database)
          return client
        }),
      )
      await sleep(5)
      assert.equal(r.stats().waiters, 3)
      held.release()
      for (const next of queued) (await next).release()
      assert.deepEqual(order, ['b', 'a', 'c'])
      assert.ok(r.stats().peakOpenConnections <= 1)
    })

    it('refuses a second release of the same checkout', async () => {
      const r = router({ databases: fakeDatabases(), budget: 1 })
      const client = await r.acquire({ database: 'a' })
      client.release()
      assert.throws(() => client.release(), expectCode('INTERNAL'))
    })

    it('fails the queued acquires of a database whose first connect failed and gives its permit back', async () => {
      const r = router({ databases: fakeDatabases(['gone']), budget: 2 })
      const failures = await Promise.allSettled(Array.from({ length: 5 }, () => r.acquire({ database: 'gone' })))
      for (const failure of failures) {
        assert.equal(failure.status, 'rejected')
        assert.ok(failure.status === 'rejected' && isTenantryError(failure.reason, 'TENANT_PLACEMENT_MISSING'))
      }
      const stats = r.stats()
      assert.equal(stats.connectFailures, 1, 'one connect was tried for the five acquires')
      assert.equal(stats.openConnections, 0)
      assert.equal(stats.poolsOpen, 0)
      await r.withClient({ database: 'there' }, () => undefined)
    })

    it('fails queued acquires and closes checked-out connections on close()', async () => {
      const fake = counting(fakeDatabases())
      const r = router({ databases: fake.databases, budget: 1 })
      const held = await r.acquire({ database: 'a' })
      const queued = assert.rejects(r.acquire({ database: 'b' }), expectCode('INTERNAL'))
      await r.close()
      await queued
      assert.equal(fake.open, 0)
      held.release() // a release after close does nothing
      await assert.rejects(r.acquire({ database: 'a' }), expectCode('INTERNAL'))
    })
  })

  const pgUrl = process.env.TENANTRY_PG_URL
  describe('on PostgreSQL', { skip: pgUrl ? false : 'TENANTRY_PG_URL is not set' }, () => {
    const url = pgUrl ?? ''
    let admin: pg.Client
    const names = Array.from({ length: 6 }, () => uniqueName('tenantry_router'))
    const dropped: string[] = [...names]

    /** Client connections the server holds to the given databases (all of ours when omitted). */
    async function onServer(databases: readonly string[] = names): Promise<number> {
      const result = await admin.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and datname = any($1)",
        [databases],
      )
      return result.rows[0]?.n ?? -1
    }

    const serverRouter = (options: Omit<PoolRouterOptions, 'databases'>): PoolRouter =>
      router({ databases: serverDatabases({ default: url }), ...options })

    before(async () => {
      admin = new pg.Client(url)
      try {
        await admin.connect()
      } catch (error) {
        throw new Error(`TENANTRY_PG_URL is set (${url}) but the server is unreachable: ${(error as Error).message}`)
      }
      for (const name of names) await admin.query(`create database ${name}`)
    })
    after(async () => {
      for (const name of dropped) await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    })

    it('opens one pool for 100 concurrent first acquires of the same database', async () => {
      const r = serverRouter({ budget: 20, maxPerDatabase: 5 })
      const pids = await Promise.all(
        Array.from({ length: 100 }, () =>
          r.withClient({ database: names[0]! }, async (client) => (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid),
        ),
      )
      const stats = r.stats()
      assert.equal(stats.poolOpens, 1)
      assert.equal(stats.poolsOpen, 1)
      assert.ok(stats.connectionOpens >= 1 && stats.connectionOpens <= 5, `opened ${stats.connectionOpens} connections`)
      assert.ok(new Set(pids).size <= 5)
      assert.equal(await onServer([names[0]!]), stats.connectionOpens)
    })

    it('never holds more connections than the budget, by its own count and by pg_stat_activity, under load on more databases than the budget', async () => {
      const budget = 4
      const r = serverRouter({ budget, maxPerDatabase: 3, acquireTimeoutMs: 20_000 })
      let serverPeak = 0
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          serverPeak = Math.max(serverPeak, await onServer())
          await sleep(1)
        }
      })()
      const answers = await Promise.all(
        Array.from({ length: 240 }, (_, i) => {
          const database = names[(i * 5) % names.length]!
          return r.withClient({ database }, async (client) => {
            const result = await client.query<{ db: string }>('select current_database() as db, pg_sleep(0.002)')
            return result.rows[0]?.db === database
          })
        }),
      )
      sampling = false
      await sampler
      assert.ok(answers.every(Boolean), 'every query ran in the database it asked for')
      const stats = r.stats()
      assert.ok(stats.peakOpenConnections <= budget, `router peak ${stats.peakOpenConnections}`)
      assert.ok(serverPeak >= 1 && serverPeak <= budget, `pg_stat_activity peak ${serverPeak}`)
      assert.ok(stats.reclaimed > 0)
      assert.equal(stats.databases.reduce((sum, d) => sum + d.openConnections, 0), stats.openConnections)
      assert.equal(await onServer(), stats.openConnections)
    })

    it('fails an acquire beyond the budget with CONNECTION_BUDGET_EXHAUSTED after acquireTimeoutMs, and leaks nothing', async () => {
      const r = serverRouter({ budget: 2, acquireTimeoutMs: 300 })
      const held = [await r.acquire({ database: names[0]! }), await r.acquire({ database: names[1]! })]
      const started = Date.now()
      await assert.rejects(r.acquire({ database: names[2]! }), expectCode('CONNECTION_BUDGET_EXHAUSTED'))
      const waited = Date.now() - started
      assert.ok(waited >= 280 && waited < 2_000, `waited ${waited} ms`)
      let stats = r.stats()
      assert.equal(stats.timeouts, 1)
      assert.equal(stats.waiters, 0)
      assert.equal(stats.poolsOpen, 2, 'the database that never got a connection has no pool')
      assert.equal(stats.openConnections, 2)
      for (const client of held) client.release()
      await r.withClient({ database: names[2]! }, (client) => client.query('select 1'))
      stats = r.stats()
      assert.equal(stats.checkedOut, 0)
      assert.ok(stats.openConnections <= 2)
      await r.close()
      assert.equal(r.stats().openConnections, 0)
      await eventually('the server holds no connection of the router', async () => (await onServer()) === 0)
    })

    it('closes an idle connection of another database to serve a new database when the budget is full', async () => {
      const r = serverRouter({ budget: 2, acquireTimeoutMs: 2_000 })
      await r.withClient({ database: names[0]! }, (client) => client.query('select 1'))
      await r.withClient({ database: names[1]! }, (client) => client.query('select 1'))
      const started = Date.now()
      await r.withClient({ database: names[2]! }, (client) => client.query('select 1'))
      assert.ok(Date.now() - started < 1_000, 'served without waiting for a timeout')
      const stats = r.stats()
      assert.equal(stats.reclaimed, 1)
      assert.equal(stats.evictions.budget, 1)
      assert.deepEqual(stats.databases.map((d) => d.database).sort(), [names[1]!, names[2]!].sort(), 'the least recently used database gave way')
      assert.equal(await onServer([names[0]!]), 0)
      assert.equal(await onServer(), 2)
    })

    it('closes a database whose connections stayed idle past idleTimeoutMs', async () => {
      const r = serverRouter({ budget: 5, idleTimeoutMs: 200 })
      await r.withClient({ database: names[0]! }, (client) => client.query('select 1'))
      assert.equal(await onServer([names[0]!]), 1)
      await eventually('the idle pool is closed', () => r.stats().poolsOpen === 0)
      assert.equal(r.stats().evictions.idle, 1)
      assert.equal(r.stats().openConnections, 0)
      await eventually('the server let go of it', async () => (await onServer([names[0]!])) === 0)
    })

    it('closes the least recently used database beyond maxPools, never one with a connection checked out', async () => {
      const r = serverRouter({ budget: 10, maxPools: 2 })
      const busy = await r.acquire({ database: names[0]! })
      await r.withClient({ database: names[1]! }, (client) => client.query('select 1'))
      await r.withClient({ database: names[2]! }, (client) => client.query('select 1'))
      await eventually('one pool was evicted', () => r.stats().evictions.lru === 1)
      assert.deepEqual(r.stats().databases.map((d) => d.database).sort(), [names[0]!, names[2]!].sort())
      assert.equal(await onServer([names[1]!]), 0)
      busy.release()
      await r.withClient({ database: names[3]! }, (client) => client.query('select 1'))
      await eventually('the least recently used one went next', () => r.stats().evictions.lru === 2)
      assert.deepEqual(r.stats().databases.map((d) => d.database).sort(), [names[2]!, names[3]!].sort())
      assert.equal(await onServer([names[0]!, names[1]!]), 0)
      assert.equal(await onServer(), 2)
    })

    it('closes every connection of a database on evict(), the checked-out ones once released, so that it can be dropped', async () => {
      const doomed = uniqueName('tenantry_router_doomed')
      dropped.push(doomed)
      await admin.query(`create database ${doomed}`)
      const r = serverRouter({ budget: 4 })
      const held = await r.acquire({ database: doomed })
      await r.withClient({ database: doomed }, (client) => client.query('select 1'))
      assert.equal(await onServer([doomed]), 2)
      let evicted = false
      const eviction = r.evict({ database: doomed }).then(() => {
        evicted = true
      })
      await eventually('the idle connection is closed', async () => (await onServer([doomed])) === 1)
      assert.equal(evicted, false, 'evict() waits for the checked-out connection')
      held.release()
      await eviction
      assert.equal(await onServer([doomed]), 0)
      assert.equal(r.stats().openConnections, 0)
      await admin.query(`drop database ${doomed}`) // no WITH (FORCE): nothing may be connected
    })

    it('rolls back what a failing withClient callback left open before the connection serves anyone else', async () => {
      const r = serverRouter({ budget: 1 })
      const database = names[5]!
      await r.withClient({ database }, (client) => client.query('create table if not exists notes (body text)'))
      await assert.rejects(
        r.withClient({ database }, async (client) => {
          await client.query('begin')
          await client.query("insert into notes values ('half done')")
          throw new Error('the handler failed')
        }),
        /the handler failed/,
      )
      const count = await r.withClient({ database }, async (client) => (await client.query<{ n: number }>('select count(*)::int as n from notes')).rows[0]?.n)
      assert.equal(count, 0)
      assert.equal(r.stats().connectionOpens, 1, 'the same connection was reused')
    })

    it('fails a database that does not exist with TENANT_PLACEMENT_MISSING while others keep working, and retries after the backoff', async () => {
      const missing = uniqueName('tenantry_router_missing')
      dropped.push(missing)
      const r = serverRouter({ budget: 3, failureBackoffMs: 300 })
      const [failed, working] = await Promise.allSettled([
        r.acquire({ database: missing }),
        r.withClient({ database: names[0]! }, async (client) => (await client.query('select 1 as one')).rows[0]),
      ])
      assert.equal(failed.status, 'rejected')
      assert.ok(failed.status === 'rejected' && isTenantryError(failed.reason, 'TENANT_PLACEMENT_MISSING'))
      assert.equal((failed.reason.cause as { code?: string }).code, '3D000')
      assert.deepEqual(working.status === 'fulfilled' && working.value, { one: 1 })
      await assert.rejects(r.acquire({ database: missing }), expectCode('TENANT_PLACEMENT_MISSING'))
      assert.equal(r.stats().connectFailures, 1, 'the second acquire failed from memory, without a connect')
      assert.equal(r.stats().openConnections, 1)
      await admin.query(`create database ${missing}`)
      await sleep(350)
      await r.withClient({ database: missing }, (client) => client.query('select 1'))
    })

    it('answers TENANT_DATABASE_UNAVAILABLE for the tenants of a server that stopped, while tenants of the main server keep working', { skip: process.env.CI ? false : (throwawayServerUnsupported() ?? false) }, async () => {
      let second: ThrowawayServer | undefined
      try {
        second = await startThrowawayServer()
        const setup = new pg.Client(second.url)
        await setup.connect()
        await setup.query('create database tenant_s1')
        await setup.query('create database tenant_s2')
        await setup.end()
        const r = router({ databases: serverDatabases({ default: url, second: second.url }), budget: 4, failureBackoffMs: 2_000 })
        const onSecond = (): number => r.stats().databases.filter((d) => d.server === 'second').reduce((n, d) => n + d.openConnections, 0)
        await r.withClient({ server: 'second', database: 'tenant_s1' }, (client) => client.query('select 1'))
        await r.withClient({ database: names[0]! }, (client) => client.query('select 1'))
        await second.stop()
        await eventually('the dead connection is dropped', () => onSecond() === 0)
        await assert.rejects(r.acquire({ server: 'second', database: 'tenant_s1' }), expectCode('TENANT_DATABASE_UNAVAILABLE'))
        const failuresBefore = r.stats().connectFailures
        const started = Date.now()
        await assert.rejects(r.acquire({ server: 'second', database: 'tenant_s2' }), (error) => {
          assert.ok(isTenantryError(error, 'TENANT_DATABASE_UNAVAILABLE'))
          assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED')
          return true
        })
        assert.ok(Date.now() - started < 100, 'the other tenant of the stopped server failed at once')
        assert.equal(r.stats().connectFailures, failuresBefore)
        await r.withClient({ database: names[0]! }, (client) => client.query('select 1'))
        await r.withClient({ database: names[1]! }, (client) => client.query('select 1'))
        assert.equal(onSecond(), 0, 'no permit stays with the stopped server')
        assert.equal(r.stats().openConnections, 2)
      } finally {
        await second?.stop()
      }
    })
  })

  describe('on PGlite', () => {
    let dataDir: string
    let template: Blob
    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tenantry-router-'))
      const seed = await PGlite.create()
      await seed.exec('create table notes (id serial primary key, body text not null)')
      template = await seed.dumpDataDir('none')
      await seed.close()
    })
    after(() => {
      rmSync(dataDir, { recursive: true, force: true })
    })

    it('creates a database from the template on first use, opening one instance for 100 concurrent acquires', async () => {
      const embedded = counting(pgliteDatabases({ dataDir, create: true, template }))
      const r = router({ databases: embedded.databases, budget: 4, acquireTimeoutMs: 30_000 })
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          r.withClient({ database: 'tenant_one' }, (client) => client.query('insert into notes (body) values ($1)', [`note ${i}`])),
        ),
      )
      assert.equal(embedded.connects, 1)
      const count = await r.withClient({ database: 'tenant_one' }, async (client) => (await client.query<{ n: number }>('select count(*)::int as n from notes')).rows[0]?.n)
      assert.equal(count, 100)
      const stats = r.stats()
      assert.equal(stats.poolOpens, 1)
      assert.equal(stats.openConnections, 1, 'the instance counts as one connection')
    })

    it('counts each open instance as one connection and closes the one it reclaims for another database', async () => {
      const embedded = counting(pgliteDatabases({ dataDir, create: true, template }))
      const r = router({ databases: embedded.databases, budget: 1, acquireTimeoutMs: 300 })
      await r.withClient({ database: 'tenant_one' }, (client) => client.query('select 1'))
      const held = await r.acquire({ database: 'tenant_two' })
      assert.equal(embedded.closes, 1, 'the idle instance of tenant_one was closed for tenant_two')
      assert.equal(embedded.open, 1)
      assert.equal(r.stats().openConnections, 1)
      await assert.rejects(r.acquire({ database: 'tenant_one' }), expectCode('CONNECTION_BUDGET_EXHAUSTED'))
      held.release()
      const count = await r.withClient({ database: 'tenant_one' }, async (client) => (await client.query<{ n: number }>('select count(*)::int as n from notes')).rows[0]?.n)
      assert.equal(count, 100, 'reopened from its folder with its rows')
      assert.equal(embedded.closes, 2)
      assert.equal(embedded.peak, 1)
    })

    it('closes an instance left idle past idleTimeoutMs', async () => {
      const embedded = counting(pgliteDatabases({ dataDir }))
      const r = router({ databases: embedded.databases, budget: 2, idleTimeoutMs: 100 })
      await r.withClient({ database: 'tenant_two' }, (client) => client.query('select 1'))
      await eventually('the instance is closed', () => embedded.open === 0 && r.stats().poolsOpen === 0)
      assert.equal(r.stats().evictions.idle, 1)
    })

    it('fails a database that was never created with TENANT_PLACEMENT_MISSING while the others keep working', async () => {
      const r = router({ databases: pgliteDatabases({ dataDir }), budget: 2 })
      await assert.rejects(r.acquire({ database: 'tenant_never' }), expectCode('TENANT_PLACEMENT_MISSING'))
      await assert.rejects(r.acquire({ server: 'elsewhere', database: 'tenant_one' }), expectCode('TENANT_PLACEMENT_MISSING'))
      await r.withClient({ database: 'tenant_one' }, (client) => client.query('select 1'))
      assert.equal(r.stats().openConnections, 1)
    })
  })
})
