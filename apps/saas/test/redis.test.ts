/**
 * REDIS_URL: two instances of the SaaS on one PostgreSQL database, with their
 * tenant lookup caches kept current over Redis pub/sub. A suspend, resume or
 * delete made through one instance is refused by the other within a second,
 * although its cache held the tenant as active. Runs when both
 * TENANTRY_PG_URL and TENANTRY_REDIS_URL are set.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { testBackends, codeOf } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const redisUrl = process.env.TENANTRY_REDIS_URL
const postgres = testBackends().find((b) => b.name === 'postgres')
const skip = redisUrl === undefined || postgres === undefined ? 'needs TENANTRY_PG_URL and TENANTRY_REDIS_URL' : false

/** Polls `probe` until it returns `want` or `ms` pass; returns how long it took. */
async function within(ms: number, probe: () => Promise<string>, want: string): Promise<number> {
  const started = Date.now()
  let last = ''
  while (Date.now() - started < ms) {
    last = await probe()
    if (last === want) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`still ${last} after ${ms} ms, wanted ${want}`)
}

describe('two instances sharing tenant cache invalidation over Redis', { skip }, () => {
  let one: SaasUnderTest
  let two: SaasUnderTest
  let key: string

  before(async () => {
    one = await startSaasUnderTest(postgres!, { redisUrl: redisUrl! })
    two = await startSaasUnderTest(postgres!, { redisUrl: redisUrl!, shareWith: one })
    key = await one.keyFor('globex')
  })
  after(async () => {
    await two?.close()
    await one?.close()
  })

  const onTwo = async (): Promise<string> => {
    const r = await two.call('/api/me', { host: 'globex', key })
    return r.status === 200 ? 'ok' : codeOf(r)
  }

  it('a suspend through one instance is refused by the other within a second, and a resume too', async () => {
    // Instance two caches globex as active.
    assert.equal(await onTwo(), 'ok')
    assert.equal((await one.admin('/tenants/globex/suspend', { method: 'POST' })).status, 200)
    assert.ok((await within(1000, onTwo, 'TENANT_SUSPENDED')) < 1000)
    assert.equal((await one.admin('/tenants/globex/resume', { method: 'POST' })).status, 200)
    await within(1000, onTwo, 'ok')
  })

  it('a delete through one instance is TENANT_NOT_FOUND on the other within a second', async () => {
    assert.equal((await one.admin('/tenants', { method: 'POST', body: { slug: 'short-lived', name: 'Short', isolation: 'database' } })).status, 201)
    const shortKey = await one.keyFor('short-lived')
    const probe = async (): Promise<string> => {
      const r = await two.call('/api/projects', { host: 'short-lived', key: shortKey })
      return r.status === 200 ? 'ok' : codeOf(r)
    }
    assert.equal(await probe(), 'ok')
    assert.equal((await one.admin('/tenants/short-lived', { method: 'DELETE' })).status, 204)
    await within(1000, probe, 'TENANT_NOT_FOUND')
  })
})
