/**
 * Plans are checked under the tenant's row lock: two updates of one tenant
 * (one its plan, one its settings) that each pass against what they read
 * cannot combine into settings the new plan refuses. `TenantCatalog.update`'s
 * `check` runs with the tenant as stored when the lock is held; a throw there
 * writes nothing (no change, no audit entry).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { PlanRegistry, isTenantryError } from '@tenantry/core'
import { openCatalog, expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'
import { TenantCatalog, type TenantRecord } from '../src/catalog/index.ts'
import { TenantLifecycle } from '../src/lifecycle/index.ts'

const plans = new PlanRegistry({
  free: {
    settings: (s) => {
      const seats = (s as { seats?: number }).seats
      return seats !== undefined && seats > 5 ? [{ path: 'seats', message: 'free tenants get at most 5 seats' }] : []
    },
  },
  pro: {},
})

const refusedByPlan = (e: unknown): boolean => isTenantryError(e, 'VALIDATION_FAILED') && /at most 5 seats/.test((e as Error).message)

/**
 * The catalog, with `between()` run before each `update` is passed on: another
 * change landing between the caller's read of the tenant and its write.
 */
function interleaving(catalog: TenantCatalog, between: () => Promise<unknown>): TenantCatalog {
  return new Proxy(catalog, {
    get(target, key) {
      if (key === 'update') {
        return async (...args: Parameters<TenantCatalog['update']>) => {
          await between()
          return target.update(...args)
        }
      }
      // Its methods bound to it: its private fields are not the proxy's.
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

const data = { models: [{ model: 'shared' }], modelOf: () => ({ provision: async () => ({}) }) }

for (const backend of testBackends()) {
  describe(`plans checked under the row lock on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
    })
    after(async () => {
      await db.close()
    })

    const auditCount = async (tenantId: string): Promise<number> => (await catalog.listAudit({ tenantId, limit: 1000 })).length

    it('update(id, patch, options, check): check sees the tenant as stored now; a throw writes nothing, not even an audit entry; a check that would wait is refused', async () => {
      const tenant = await catalog.create({ slug: slugFor('check'), name: 'Check', plan: 'pro', settings: { seats: 1 } })
      const seen: TenantRecord[] = []
      await catalog.update(tenant.id, { settings: { seats: 2 } }, {}, (current) => {
        seen.push(current)
      })
      assert.equal(seen.length, 1)
      assert.deepEqual(seen[0]?.settings, { seats: 1 }, 'the stored settings, before this write')
      assert.equal(seen[0]?.plan, 'pro')
      const audits = await auditCount(tenant.id)
      // The lock is free again after every refusal below: a later update goes through (checked at the end).
      await assert.rejects(catalog.update(tenant.id, { name: 'Renamed' }, {}, () => {
        throw new Error('no')
      }), /no/)
      // Synchronous only: it holds a connection and the row lock, so a check that would wait is refused, and nothing written.
      let settled = false
      await assert.rejects(catalog.update(tenant.id, { name: 'Renamed' }, {}, (async () => {
        await Promise.resolve()
        settled = true
        throw new Error('a rejection nobody sees')
      }) as never), expectCode('VALIDATION_FAILED', /must be synchronous/))
      await assert.rejects(catalog.update(tenant.id, { name: 'Renamed' }, {}, (() => ({ then() {} })) as never), expectCode('VALIDATION_FAILED', /must be synchronous/))
      assert.equal(settled, true)
      // An empty patch writes nothing, but the check still has its say.
      await assert.rejects(catalog.update(tenant.id, {}, {}, () => {
        throw new Error('gate closed')
      }), /gate closed/)
      const stored = await catalog.requireById(tenant.id)
      assert.equal(stored.name, 'Check')
      assert.deepEqual(stored.settings, { seats: 2 })
      assert.equal(await auditCount(tenant.id), audits, 'no audit entry for a refused change')
      await assert.rejects(catalog.update(tenant.id, { name: 'x' }, {}, 'yes' as never), expectCode('VALIDATION_FAILED', /check/))
      // No refusal above kept the row lock or a connection.
      assert.equal((await catalog.update(tenant.id, { name: 'After' }, {}, () => undefined)).name, 'After')
    })

    it('a settings change checked against a plan changed after it was read: refused, nothing written', async () => {
      const tenant = await catalog.create({ slug: slugFor('race-settings'), name: 'Race', plan: 'pro', settings: { seats: 1 } })
      // Another update lands between the lifecycle's read (pro) and its write: the tenant moves to free.
      const lifecycle = new TenantLifecycle({ catalog: interleaving(catalog, () => catalog.update(tenant.id, { plan: 'free' })), data: data as never, plans })
      await assert.rejects(lifecycle.update(tenant.slug, { settings: { seats: 50 } }), refusedByPlan)
      const stored = await catalog.requireById(tenant.id)
      assert.equal(stored.plan, 'free')
      assert.deepEqual(stored.settings, { seats: 1 })
    })

    it('a plan change checked against settings changed after they were read: refused, nothing written', async () => {
      const tenant = await catalog.create({ slug: slugFor('race-plan'), name: 'Race', plan: 'pro', settings: { seats: 1 } })
      const lifecycle = new TenantLifecycle({ catalog: interleaving(catalog, () => catalog.update(tenant.id, { settings: { seats: 50 } })), data: data as never, plans })
      await assert.rejects(lifecycle.update(tenant.slug, { plan: 'free' }), refusedByPlan)
      const stored = await catalog.requireById(tenant.id)
      assert.equal(stored.plan, 'pro')
      assert.deepEqual(stored.settings, { seats: 50 })
      // Without a race the same lifecycle update goes through.
      const plain = new TenantLifecycle({ catalog, data: data as never, plans })
      assert.equal((await plain.update(tenant.slug, { plan: 'free', settings: { seats: 3 } })).plan, 'free')
    })

    it('two real transactions: an update waiting on the row lock is checked against what the other committed', { skip: backend.name === 'pglite' && 'PGlite has one connection' }, async () => {
      const tenant = await catalog.create({ slug: slugFor('race-lock'), name: 'Race', plan: 'pro', settings: { seats: 1 } })
      const lifecycle = new TenantLifecycle({ catalog, data: data as never, plans })
      const pool = db.newPool()
      const client = await pool.connect()
      try {
        await client.query('begin')
        await client.query('select 1 from tenantry.tenants where id = $1 for update', [tenant.id])
        await client.query(`update tenantry.tenants set plan = 'free' where id = $1`, [tenant.id])
        // Checked against pro (what is committed) first, then it waits for the lock.
        const pending = lifecycle.update(tenant.slug, { settings: { seats: 50 } })
        const settled = pending.then(() => 'done', () => 'refused')
        for (let waited = 0; ; waited += 20) {
          const waiting = await client.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)
          if (waiting.rows[0].n > 0) break
          assert.ok(waited < 10_000, 'the update never waited for the row lock')
          await sleep(20)
        }
        assert.equal(await Promise.race([settled, sleep(50).then(() => 'waiting')]), 'waiting')
        await client.query('commit')
        await assert.rejects(pending, refusedByPlan)
      } finally {
        // The pool is the test database's: it ends with it.
        client.release()
      }
      const stored = await catalog.requireById(tenant.id)
      assert.equal(stored.plan, 'free')
      assert.deepEqual(stored.settings, { seats: 1 })
    })
  })
}
