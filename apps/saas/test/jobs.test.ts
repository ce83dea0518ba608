/**
 * The SaaS's background reports on BullMQ (REDIS_URL): a tenant asks for a
 * report, the worker builds it as that tenant (its own counts, in any
 * model), another tenant cannot read it, and the console's admin API counts
 * each tenant's queued, running and failed jobs. On PGlite and PostgreSQL,
 * when TENANTRY_REDIS_URL is set.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { codeOf, testBackends, waitFor } from '@tenantry/test-kit'
import { connectionOf } from '../src/jobs/reports.ts'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const redisUrl = process.env.TENANTRY_REDIS_URL || undefined

describe('the report queue\'s Redis connection', () => {
  it('takes all of REDIS_URL: user, password, database, TLS, an IPv6 host', () => {
    assert.deepEqual(connectionOf('redis://reports:p%40ss@cache.internal:6380/3'), { host: 'cache.internal', port: 6380, username: 'reports', password: 'p@ss', db: 3 })
    assert.deepEqual(connectionOf('rediss://[::1]'), { host: '::1', port: 6379, tls: {} })
    assert.deepEqual(connectionOf('redis://127.0.0.1:6379'), { host: '127.0.0.1', port: 6379 })
  })
})

for (const backend of testBackends()) {
  describe(`background reports on ${backend.name}`, { skip: redisUrl === undefined ? 'needs TENANTRY_REDIS_URL' : false }, () => {
    let s: SaasUnderTest
    const keys = new Map<string, string>()
    before(async () => {
      s = await startSaasUnderTest(backend, { redisUrl: redisUrl! })
      for (const slug of ['acme', 'globex', 'initech']) keys.set(slug, await s.keyFor(slug))
    })
    after(async () => {
      await s?.close()
    })
    const as = (slug: string) => ({ host: slug, key: keys.get(slug)! })

    it('builds each tenant\'s report in the background, as that tenant, in all three models', async () => {
      // Different data per tenant, so a report built as the wrong tenant shows.
      for (const [slug, n] of [['acme', 1], ['globex', 2], ['initech', 3]] as const) {
        for (let i = 0; i < n; i++) assert.equal((await s.call('/api/projects', { method: 'POST', body: { name: `${slug}-${i}` }, ...as(slug) })).status, 201)
      }
      for (const slug of ['acme', 'globex', 'initech']) {
        const stats = (await s.call('/api/stats', as(slug))).body as { projects: number; tasks: number }
        const asked = await s.call('/api/reports', { method: 'POST', ...as(slug) })
        assert.equal(asked.status, 202, asked.text)
        assert.equal(asked.body.status, 'queued')
        assert.match(asked.body.id, /^[0-9a-f-]{36}\.[0-9a-f-]{36}$/)
        let report: { status: string; result: { projects: number; tasks: number } | null } = asked.body
        await waitFor(async () => {
          report = (await s.call(`/api/reports/${asked.body.id}`, as(slug))).body
          return report.status === 'done'
        }, 20_000, `${slug}'s report was built`)
        assert.equal(report.result?.projects, stats.projects, `${slug}'s own projects`)
        assert.equal(report.result?.tasks, stats.tasks)
      }
    })

    it('never shows a tenant another tenant\'s report, and refuses an id it did not make', async () => {
      const asked = await s.call('/api/reports', { method: 'POST', ...as('acme') })
      assert.equal(asked.status, 202)
      assert.equal(codeOf(await s.call(`/api/reports/${asked.body.id}`, as('globex'))), 'NOT_FOUND')
      assert.equal(codeOf(await s.call('/api/reports/1', as('acme'))), 'VALIDATION_FAILED')
    })

    it('counts a tenant\'s jobs for the console: queued, running, failed, by queue', async () => {
      const r = await s.admin('/tenants/globex/jobs')
      assert.equal(r.status, 200, r.text)
      assert.equal(r.body.available, true)
      assert.deepEqual(r.body.queues, [{ queue: 'reports', queued: 0, running: 0, failed: 0 }])
      const acmeId = (await s.admin('/tenants/acme')).body.id as string
      await waitFor(async () => {
        const [counts] = await s.saas.jobs!.jobCounts(acmeId)
        return counts !== undefined && counts.queued + counts.running + counts.failed === 0
      }, 20_000, 'acme\'s reports are all done')
      assert.deepEqual((await s.admin('/tenants/acme/jobs')).body.queues, [{ queue: 'reports', queued: 0, running: 0, failed: 0 }])
    })
  })
}
