/**
 * TenantLifecycle checks plans against what the catalog will store: the input
 * is parsed first (each field read once, settings serialised once), and the
 * plans and the catalog both get that parsed input, so a toJSON or a getter
 * cannot show the plans one thing and the catalog another.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PlanRegistry, isTenantryError, parseNewTenant, parseTenantPatch } from '@tenantry/core'
import { TenantLifecycle } from '../src/lifecycle/index.ts'

const plans = new PlanRegistry({
  free: {
    rateLimit: { limit: 100, windowMs: 60_000 },
    // The deployment's own rule: a free tenant's override may not exceed 100 a minute.
    settings: (s) => {
      const limit = (s.rateLimit as { limit?: number } | undefined)?.limit
      return limit !== undefined && limit > 100 ? [{ path: 'rateLimit.limit', message: 'free tenants get at most 100' }] : []
    },
  },
  pro: { rateLimit: { limit: 10_000, windowMs: 60_000 } },
})

/** A catalog that records what it was asked to store (parsed as the real one parses it). */
function recordingCatalog(tenant: { plan: string; settings?: Record<string, unknown> } = { plan: 'free' }): { catalog: unknown; stored: unknown[] } {
  const acme = { id: '11111111-1111-4111-8111-111111111111', slug: 'acme', status: 'active', settings: {}, ...tenant }
  const stored: unknown[] = []
  const catalog = {
    getBySlug: async () => acme,
    getById: async () => acme,
    update: async (_id: string, patch: unknown) => {
      const parsed = parseTenantPatch(patch)
      stored.push(parsed)
      return { ...acme, ...parsed }
    },
    create: async (input: unknown) => {
      stored.push(parseNewTenant(input))
      throw new Error('stop once stored')
    },
  }
  return { catalog, stored }
}

const refusedByPlan = (e: unknown): boolean => isTenantryError(e, 'VALIDATION_FAILED') && /at most 100|one of/.test((e as Error).message)

describe('TenantLifecycle and plans', () => {
  const data = { models: [{ model: 'shared' }], modelOf: () => ({ provision: async () => ({}) }) }

  it('checks the settings the catalog stores: a hidden toJSON cannot pass 50 to the plans and store 1,000,000', async () => {
    const { catalog, stored } = recordingCatalog()
    const lifecycle = new TenantLifecycle({ catalog: catalog as never, data: data as never, plans })
    await assert.rejects(lifecycle.update('acme', { settings: { rateLimit: { limit: 1_000_000 } } }), refusedByPlan)
    const settings = { rateLimit: { limit: 50 } }
    Object.defineProperty(settings, 'toJSON', { value: () => ({ rateLimit: { limit: 1_000_000 } }), enumerable: false })
    await assert.rejects(lifecycle.update('acme', { settings }), refusedByPlan)
    await assert.rejects(lifecycle.create({ slug: 'initech', name: 'Initech', settings }), refusedByPlan)
    assert.deepEqual(stored, [], 'nothing reached the catalog')
    await lifecycle.update('acme', { settings: { rateLimit: { limit: 50 } } })
    assert.deepEqual(stored, [{ settings: { rateLimit: { limit: 50 } } }])
  })

  it('reads the plan once: a getter cannot answer "free" to the plans and an unknown plan to the catalog', async () => {
    const { catalog, stored } = recordingCatalog()
    const lifecycle = new TenantLifecycle({ catalog: catalog as never, data: data as never, plans })
    let reads = 0
    const input = { slug: 'initech', name: 'Initech', get plan() { return ++reads === 1 ? 'free' : 'platinum' } }
    await assert.rejects(lifecycle.create(input as never), /stop once stored/)
    assert.equal((stored[0] as { plan: string }).plan, 'free')
    assert.equal(reads, 1)
  })

  it('checks a new plan against the settings the tenant keeps: a pro tenant with a pro-sized override cannot move to free with it', async () => {
    const { catalog, stored } = recordingCatalog({ plan: 'pro', settings: { rateLimit: { limit: 1_000_000 } } })
    const lifecycle = new TenantLifecycle({ catalog: catalog as never, data: data as never, plans })
    await assert.rejects(lifecycle.update('acme', { plan: 'free' }), refusedByPlan)
    assert.deepEqual(stored, [])
    await lifecycle.update('acme', { plan: 'free', settings: {} })
    await lifecycle.update('acme', { plan: 'pro' })
    assert.deepEqual(stored, [{ plan: 'free', settings: {} }, { plan: 'pro' }])
  })

  it('refuses settings for a tenant on a plan the deployment does not define (a retired one): they cannot be checked, so they are not let through', async () => {
    const { catalog, stored } = recordingCatalog({ plan: 'starter' })
    const lifecycle = new TenantLifecycle({ catalog: catalog as never, data: data as never, plans })
    await assert.rejects(lifecycle.update('acme', { settings: { rateLimit: { limit: 1_000_000 } } }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /"starter", which this deployment does not define \(free, pro\)/.test((e as Error).message))
    assert.deepEqual(stored, [])
    // A change that leaves the settings alone goes on; settings go with a plan that checks them.
    await lifecycle.update('acme', { name: 'Acme' })
    await assert.rejects(lifecycle.update('acme', { plan: 'free', settings: { rateLimit: { limit: 1_000_000 } } }), refusedByPlan)
    await lifecycle.update('acme', { plan: 'free', settings: { rateLimit: { limit: 50 } } })
    assert.deepEqual(stored, [{ name: 'Acme' }, { plan: 'free', settings: { rateLimit: { limit: 50 } } }])
  })
})
