import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  assertServing,
  assertTransition,
  canTransition,
  isSlug,
  isTenantryError,
  isUuid,
  parseNewTenant,
  parseTenantPatch,
  slugProblem,
  tenantStatuses,
  TenantryError,
} from '@tenantry/core'

describe('slugs', () => {
  it('accepts lowercase letters, digits and inner hyphens up to 63 characters', () => {
    for (const ok of ['a', 'acme', 'acme-2', '9lives', 'a'.repeat(63)]) assert.equal(slugProblem(ok), undefined, ok)
  })
  it('rejects malformed and reserved slugs with a reason', () => {
    for (const bad of ['', 'A', '-acme', 'acme-', 'ac_me', 'ac.me', 'a'.repeat(64), 'www', 'admin', 'public', 'tenantry', 'pg-catalog', 'information_schema', 'é']) {
      assert.equal(isSlug(bad), false, bad)
      assert.equal(typeof slugProblem(bad), 'string')
    }
    assert.equal(isSlug(42), false)
  })
})

describe('uuids', () => {
  it('accepts canonical UUIDs only', () => {
    assert.equal(isUuid('6f1c2a8e-9b7d-4e3f-8a2b-1c0d9e8f7a6b'), true)
    assert.equal(isUuid('6f1c2a8e9b7d4e3f8a2b1c0d9e8f7a6b'), false)
    assert.equal(isUuid("' or 1=1 --"), false)
  })
})

describe('lifecycle', () => {
  it('allows exactly the documented transitions', () => {
    const allowed = new Set(['provisioning>active', 'provisioning>offboarding', 'active>suspended', 'active>offboarding', 'suspended>active', 'suspended>offboarding', 'offboarding>deleted'])
    for (const from of tenantStatuses) {
      for (const to of tenantStatuses) {
        assert.equal(canTransition(from, to), allowed.has(`${from}>${to}`), `${from} -> ${to}`)
      }
    }
  })
  it('throws CONFLICT naming the allowed targets for a forbidden transition', () => {
    assert.throws(() => assertTransition('deleted', 'active'), (e: unknown) => isTenantryError(e, 'CONFLICT') && /final state/.test(e.message))
    assert.throws(() => assertTransition('active', 'deleted'), (e: unknown) => isTenantryError(e, 'CONFLICT') && /"suspended"/.test(e.message))
  })
  it('lets only active tenants serve', () => {
    assert.doesNotThrow(() => assertServing({ slug: 'a', status: 'active' }))
    for (const status of ['provisioning', 'suspended', 'offboarding', 'deleted'] as const) {
      assert.throws(() => assertServing({ slug: 'a', status }), (e: unknown) => isTenantryError(e, 'TENANT_SUSPENDED') && e.status === 403)
    }
  })
})

describe('tenant input', () => {
  it('lists every problem of a bad new tenant at once', () => {
    try {
      parseNewTenant({ slug: 'WWW', name: '', isolation: 'cluster', plan: 'Gold Plan', extra: 1, domains: ['not a domain'] })
      assert.fail('expected VALIDATION_FAILED')
    } catch (e) {
      assert.ok(e instanceof TenantryError)
      assert.equal(e.code, 'VALIDATION_FAILED')
      assert.equal(e.status, 400)
      const paths = (e.details as { path: string }[]).map((d) => d.path).sort()
      assert.deepEqual(paths, ['domains.0', 'extra', 'isolation', 'name', 'plan', 'slug'])
    }
  })
  it('accepts a well-formed new tenant and patch', () => {
    assert.deepEqual(parseNewTenant({ slug: 'acme', name: 'Acme', isolation: 'schema', domains: ['app.acme.com'] }).slug, 'acme')
    assert.deepEqual(parseTenantPatch({ plan: 'pro' }), { plan: 'pro' })
  })
  it('rejects non-objects and unknown patch fields', () => {
    assert.throws(() => parseNewTenant('acme'), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => parseTenantPatch({ slug: 'x' }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    assert.throws(() => parseTenantPatch({ settings: [] }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
  it('refuses settings nested past 32 levels (a tenant scope could never hold them) and takes 32', () => {
    const nested = (levels: number): Record<string, unknown> => {
      const top: Record<string, unknown> = {}
      let node = top
      for (let i = 1; i < levels; i++) node = (node.a = {}) as Record<string, unknown>
      return top
    }
    assert.deepEqual(parseTenantPatch({ settings: nested(32) }).settings, nested(32))
    for (const settings of [nested(33), nested(70)]) {
      assert.throws(() => parseTenantPatch({ settings }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED') && /nested at most 32 levels deep/.test(e.message))
      assert.throws(() => parseNewTenant({ slug: 'acme', name: 'Acme', settings }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.throws(() => parseTenantPatch({ settings: cyclic }), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
  })
})
