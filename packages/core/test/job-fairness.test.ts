import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fairRanks, fairnessSettings, weightOf } from '@tenantry/core'
import { expectCode } from '@tenantry/test-kit'

describe('job fairness: settings, weights and ranks shared by the queue adapters', () => {
  it('ranks a tenant\'s n-th pending job ⌈n / weight⌉', () => {
    assert.deepEqual(fairRanks(3, 3, 1), [1, 2, 3])
    assert.deepEqual(fairRanks(3, 3, 2), [1, 1, 2])
    assert.deepEqual(fairRanks(10_001, 1, 1), [10_001])
    assert.deepEqual(fairRanks(1, 1, 4), [1])
  })

  it('weighs a tenant by its plan\'s own weight only: a plan named like an Object method is weight 1', () => {
    const settings = fairnessSettings({ weights: { pro: 4 } })
    assert.equal(weightOf(settings, { plan: 'pro' }), 4)
    assert.equal(weightOf(settings, { plan: 'free' }), 1)
    assert.equal(weightOf(settings, {}), 1)
    for (const plan of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(weightOf(settings, { plan }), 1, plan)
  })

  it('fills in the defaults and refuses options out of range, naming them', () => {
    assert.deepEqual(fairnessSettings(), { weights: {}, cap: undefined, leaseMs: 30_000, retryDelayMs: 250 })
    const bad: [object, string][] = [
      [{ weights: { pro: 0 } }, 'options.weights.pro'],
      [{ weights: { pro: Number.NaN } }, 'options.weights.pro'],
      [{ concurrencyPerTenant: 0 }, 'options.concurrencyPerTenant'],
      [{ concurrencyPerTenant: 1.5 }, 'options.concurrencyPerTenant'],
      [{ concurrencyPerTenant: 2 ** 31 }, 'options.concurrencyPerTenant'],
      [{ leaseMs: 999 }, 'options.leaseMs'],
      [{ leaseMs: 2 ** 31 }, 'options.leaseMs'],
      [{ retryDelayMs: 0 }, 'options.retryDelayMs'],
      [{ retryDelayMs: 3_600_001 }, 'options.retryDelayMs'],
    ]
    for (const [options, path] of bad) {
      assert.throws(() => fairnessSettings(options), (error: unknown) => {
        expectCode('VALIDATION_FAILED')(error)
        assert.equal((error as { details: { path: string }[] }).details[0]?.path, path)
        return true
      }, JSON.stringify(options))
    }
  })
})
