/**
 * The admin (control-plane) API of docs/reference-saas.md over real HTTP on PGlite and (with
 * TENANTRY_PG_URL) PostgreSQL: every route, the bare-host rule, the admin token,
 * validation, and the lifecycle as tenant traffic sees it (suspend, resume,
 * delete with its data purged, the slug created again with none of the old data).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { databaseFolderName } from '@tenantry/postgres/pglite'
import { testBackends, codeOf } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const TENANT_KEYS = ['created_at', 'domains', 'id', 'isolation', 'name', 'plan', 'settings', 'slug', 'status']

for (const backend of testBackends()) {
  describe(`admin API over HTTP on ${backend.name}`, () => {
    let s: SaasUnderTest
    before(async () => {
      s = await startSaasUnderTest(backend)
    })
    after(async () => {
      await s?.close()
    })

    /** Where a tenant's data physically is, to prove a purge. */
    async function dataOf(tenant: { id: string; isolation: string; placement: { schema?: string; database?: string } }): Promise<string> {
      const pool = s.saas.tenantry.target.pool
      if (tenant.isolation === 'shared') {
        const { rows } = await pool.query<{ n: string }>(
          "select (select count(*) from projects where tenant_id = $1) + (select count(*) from tasks where tenant_id = $1) as n",
          [tenant.id],
        )
        return `rows:${rows[0]?.n}`
      }
      if (tenant.isolation === 'schema') {
        const { rows } = await pool.query<{ ok: boolean }>('select exists (select 1 from pg_namespace where nspname = $1) as ok', [tenant.placement.schema])
        return `schema:${rows[0]?.ok}`
      }
      const database = tenant.placement.database as string
      if (s.dataDir !== undefined) return `database:${existsSync(join(s.dataDir, 'databases', databaseFolderName(database)))}`
      const { rows } = await pool.query<{ ok: boolean }>('select exists (select 1 from pg_database where datname = $1) as ok', [database])
      return `database:${rows[0]?.ok}`
    }

    it('lists the demo tenants, one per model', async () => {
      const r = await s.admin('/tenants')
      assert.equal(r.status, 200)
      assert.deepEqual(Object.keys(r.body), ['items'])
      const demo = r.body.items.filter((t: { slug: string }) => ['acme', 'globex', 'initech'].includes(t.slug))
      assert.deepEqual(demo.map((t: { slug: string; isolation: string; status: string }) => [t.slug, t.isolation, t.status]), [
        ['acme', 'shared', 'active'],
        ['globex', 'schema', 'active'],
        ['initech', 'database', 'active'],
      ])
      for (const t of r.body.items) assert.deepEqual(Object.keys(t).sort(), TENANT_KEYS)
    })

    it('creates a tenant in each model, with its domains; it serves at once', async () => {
      for (const isolation of ['shared', 'schema', 'database'] as const) {
        const slug = `new-${isolation}`
        const r = await s.admin('/tenants', { method: 'POST', body: { slug, name: `New ${isolation}`, plan: 'pro', isolation, domains: [`${slug}.example.com`] } })
        assert.equal(r.status, 201, r.text)
        assert.deepEqual(Object.keys(r.body).sort(), TENANT_KEYS)
        assert.equal(r.body.slug, slug)
        assert.equal(r.body.status, 'active')
        assert.equal(r.body.plan, 'pro')
        assert.equal(r.body.isolation, isolation)
        assert.deepEqual(r.body.domains, [`${slug}.example.com`])
        assert.deepEqual((await s.admin(`/tenants/${slug}`)).body, r.body)

        const key = await s.keyFor(slug)
        const project = await s.call('/api/projects', { host: slug, key, method: 'POST', body: { name: 'First' } })
        assert.equal(project.status, 201)
        // Its custom domain resolves to it too.
        const byDomain = await s.call('/api/projects', { host: `${slug}.example.com`, key })
        assert.deepEqual(byDomain.body.items.map((p: { id: string }) => p.id), [project.body.id])
      }
    })

    it('defaults a new tenant to the shared model and the free plan', async () => {
      const r = await s.admin('/tenants', { method: 'POST', body: { slug: 'plain', name: 'Plain' } })
      assert.equal(r.status, 201)
      assert.equal(r.body.isolation, 'shared')
      assert.equal(r.body.plan, 'free')
      assert.deepEqual(r.body.domains, [])
    })

    it('refuses a taken slug or domain with 409 CONFLICT, and bad input with 400, writing nothing', async () => {
      const count = (await s.admin('/tenants')).body.items.length
      const taken = await s.admin('/tenants', { method: 'POST', body: { slug: 'acme', name: 'Acme again' } })
      assert.equal(taken.status, 409)
      assert.equal(taken.body.error.code, 'CONFLICT')
      const domain = await s.admin('/tenants', { method: 'POST', body: { slug: 'domain-thief', name: 'Thief', domains: ['new-shared.example.com'] } })
      assert.equal(codeOf(domain), 'CONFLICT')
      const badNames = ['', 'x'.repeat(201), '🚀'.repeat(101), 'Half \uD83D a pair']
      for (const body of [
        { slug: 'admin', name: 'Reserved' },
        { slug: 'Bad_Slug', name: 'Bad' },
        { slug: 'ok-slug', name: '' },
        { slug: 'ok-slug', name: 'x'.repeat(201) },
        // The catalog's rule, checked here: 101 emoji are 202 UTF-16 code units.
        { slug: 'ok-slug', name: '🚀'.repeat(101) },
        { slug: 'ok-slug', name: 'Half \uD83D a pair' },
        { slug: 'ok-slug', name: 'Ok', isolation: 'cluster' },
        { slug: 'ok-slug', name: 'Ok', plan: 'Not A Plan' },
        { slug: 'ok-slug', name: 'Ok', domains: ['Not A Domain'] },
        { slug: 'ok-slug', name: 'Ok', status: 'active' },
        { slug: 42, name: 'Ok' },
        { name: 'No slug' },
      ]) {
        const r = await s.admin('/tenants', { method: 'POST', body })
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`)
        assert.equal(r.body.error.code, 'VALIDATION_FAILED')
        assert.ok(r.body.error.details.length > 0)
        if ('name' in body && badNames.includes(body.name as string)) assert.ok(r.body.error.details.some((d: { path: string }) => d.path === 'body.name'), r.text)
      }
      assert.equal(codeOf(await s.admin('/tenants', { method: 'POST', body: '{"slug":' })), 'VALIDATION_FAILED')
      // A list far over the limit is refused on its count alone: one issue, no element read.
      const flood = await s.admin('/tenants', { method: 'POST', body: { slug: 'ok-slug', name: 'Ok', domains: Array.from({ length: 30_000 }, () => 'X') } })
      assert.equal(codeOf(flood), 'VALIDATION_FAILED', flood.text)
      assert.deepEqual(flood.body.error.details, [{ path: 'body.domains', message: 'must be an array of at most 20 domain names' }])
      assert.equal((await s.admin('/tenants')).body.items.length, count)
      assert.equal(codeOf(await s.admin('/tenants/ok-slug')), 'TENANT_NOT_FOUND')
    })

    it('answers an unknown slug with 404 TENANT_NOT_FOUND and a malformed one with 400', async () => {
      const unknown = await s.admin('/tenants/nobody-here')
      assert.equal(unknown.status, 404)
      assert.equal(unknown.body.error.code, 'TENANT_NOT_FOUND')
      for (const path of ['/tenants/nobody-here/suspend', '/tenants/nobody-here/resume', '/tenants/nobody-here/api-keys']) {
        assert.equal(codeOf(await s.admin(path, { method: 'POST' })), 'TENANT_NOT_FOUND')
      }
      assert.equal(codeOf(await s.admin('/tenants/nobody-here', { method: 'DELETE' })), 'TENANT_NOT_FOUND')
      assert.equal(codeOf(await s.admin('/tenants/NOT_A_SLUG')), 'VALIDATION_FAILED')
    })

    it('patches name, plan and settings; refuses unknown fields', async () => {
      const r = await s.admin('/tenants/plain', { method: 'PATCH', body: { name: 'Plain Inc', plan: 'pro', settings: { seats: 5 } } })
      assert.equal(r.status, 200, r.text)
      assert.equal(r.body.name, 'Plain Inc')
      assert.equal(r.body.plan, 'pro')
      assert.deepEqual(r.body.settings, { seats: 5 })
      assert.deepEqual((await s.admin('/tenants/plain')).body.settings, { seats: 5 })
      assert.equal((await s.saas.tenantry.catalog.requireBySlug('plain')).settings.seats, 5)
      assert.equal(codeOf(await s.admin('/tenants/plain', { method: 'PATCH', body: { slug: 'renamed' } })), 'VALIDATION_FAILED')
      assert.equal(codeOf(await s.admin('/tenants/plain', { method: 'PATCH', body: { settings: [1, 2] } })), 'VALIDATION_FAILED')
      // The tenant API sees the new name at once (the lookup cache was told).
      const key = await s.keyFor('plain')
      assert.equal((await s.call('/api/me', { host: 'plain', key })).body.tenant.name, 'Plain Inc')
    })

    it('refuses a plan the deployment does not define and ill-typed settings, naming the plans; nothing is written', async () => {
      const before = await s.admin('/tenants/plain')
      const unknown = await s.admin('/tenants/plain', { method: 'PATCH', body: { plan: 'gold' } })
      assert.equal(unknown.status, 400)
      assert.equal(unknown.body.error.code, 'VALIDATION_FAILED')
      assert.match(unknown.body.error.message, /free, pro, enterprise/)
      assert.deepEqual(unknown.body.error.details, [{ path: 'plan', message: 'must be one of the plans this deployment defines: free, pro, enterprise' }])
      const created = await s.admin('/tenants', { method: 'POST', body: { slug: 'gold-plated', name: 'Gold', plan: 'gold' } })
      assert.equal(codeOf(created), 'VALIDATION_FAILED')
      assert.equal(await s.saas.tenantry.catalog.getBySlug('gold-plated'), undefined)
      for (const settings of [{ rateLimit: { limit: -1 } }, { rateLimit: 'fast' }, { bulkhead: { maxConcurrent: 0 } }, { rateLimit: { perSecond: 5 } }]) {
        const r = await s.admin('/tenants/plain', { method: 'PATCH', body: { settings } })
        assert.equal(codeOf(r), 'VALIDATION_FAILED', JSON.stringify(settings))
        assert.ok(r.body.error.details.every((d: { path: string }) => d.path.startsWith('settings.')), r.text)
      }
      assert.deepEqual((await s.admin('/tenants/plain')).body, before.body)
    })

    it('refuses a body with __proto__, constructor or prototype keys, saying why; nothing is written', async () => {
      const before = await s.admin('/tenants/plain')
      for (const text of [
        '{"settings":{"__proto__":{"admin":true}}}',
        '{"settings":{"nested":{"constructor":{"prototype":{"x":1}}}}}',
        '{"__proto__":{"plan":"enterprise"}}',
      ]) {
        const r = await s.admin('/tenants/plain', { method: 'PATCH', body: text })
        assert.equal(r.status, 400, text)
        assert.equal(r.body.error.code, 'VALIDATION_FAILED')
        assert.match(r.body.error.message, /__proto__|constructor|prototype/, r.text)
        assert.doesNotMatch(r.body.error.message, /Object\.prototype|poison/i, 'the message is about the request, not the parser')
      }
      assert.deepEqual((await s.admin('/tenants/plain')).body, before.body)
      assert.equal(({} as Record<string, unknown>).admin, undefined)
    })

    it('refuses a body built to amplify its refusal (a huge key over thousands of forbidden keys) with a small answer, before any guard', async () => {
      // The parser runs on every JSON body, an unauthenticated one to /healthz included.
      const body = `{"${'k'.repeat(100_000)}":[${Array(5000).fill('{"prototype":0}').join(',')}]}`
      const r = await s.saas.app.inject({ method: 'POST', url: '/healthz', headers: { host: 'localhost', 'content-type': 'application/json' }, payload: body })
      assert.equal(r.statusCode, 400)
      const answer = r.json() as { error: { code: string; message: string; details: unknown[] } }
      assert.equal(answer.error.code, 'VALIDATION_FAILED')
      assert.equal(answer.error.details.length, 50)
      // Before: 5,000 issues whose paths each copied the 100,000-character key (16 s, 2 GB to build the message).
      assert.ok(r.body.length < 40_000, `answer of ${r.body.length} characters`)
    })

    it('lists a tenant\'s API keys without secrets, and revokes one: 401 at once, 404 for another tenant\'s or an unknown id', async () => {
      const made = await s.admin('/tenants/initech/api-keys', { method: 'POST', body: { name: 'to revoke' } })
      const key = made.body.key as string
      assert.equal((await s.call('/api/me', { host: 'initech', key })).status, 200)
      const listed = await s.admin('/tenants/initech/api-keys')
      assert.equal(listed.status, 200)
      const mine = listed.body.items.find((k: { id: string }) => k.id === made.body.id)
      assert.deepEqual(Object.keys(mine).sort(), ['created_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at'])
      assert.equal(mine.name, 'to revoke')
      assert.equal(mine.revoked_at, null)
      assert.ok(key.includes(mine.prefix))
      assert.ok(!listed.text.includes(key), 'the secret is never listed')
      assert.equal(codeOf(await s.admin(`/tenants/acme/api-keys/${made.body.id}`, { method: 'DELETE' })), 'NOT_FOUND')
      assert.equal(codeOf(await s.admin('/tenants/initech/api-keys/00000000-0000-4000-8000-000000000000', { method: 'DELETE' })), 'NOT_FOUND')
      assert.equal(codeOf(await s.admin('/tenants/initech/api-keys/not-a-uuid', { method: 'DELETE' })), 'NOT_FOUND')
      assert.equal((await s.call('/api/me', { host: 'initech', key })).status, 200, 'a refused revoke changed nothing')
      const revoked = await s.admin(`/tenants/initech/api-keys/${made.body.id}`, { method: 'DELETE' })
      assert.equal(revoked.status, 204)
      assert.equal(codeOf(await s.call('/api/me', { host: 'initech', key })), 'UNAUTHENTICATED')
      const after = (await s.admin('/tenants/initech/api-keys')).body.items.find((k: { id: string }) => k.id === made.body.id)
      assert.match(after.revoked_at, /^\d{4}-\d\d-\d\dT/)
      assert.equal(codeOf(await s.admin('/tenants/nobody-here/api-keys')), 'TENANT_NOT_FOUND')
    })

    it('adds a custom domain (it resolves at once; 409 when taken) and removes it (it stops resolving)', async () => {
      const key = await s.keyFor('globex')
      const added = await s.admin('/tenants/globex/domains', { method: 'POST', body: { domain: 'globex.example.net' } })
      assert.equal(added.status, 201, added.text)
      assert.deepEqual(Object.keys(added.body).sort(), TENANT_KEYS)
      assert.ok(added.body.domains.includes('globex.example.net'))
      assert.equal((await s.call('/api/me', { host: 'globex.example.net', key })).body.tenant.slug, 'globex')
      assert.equal(codeOf(await s.admin('/tenants/acme/domains', { method: 'POST', body: { domain: 'globex.example.net' } })), 'CONFLICT')
      assert.equal(codeOf(await s.admin('/tenants/acme/domains', { method: 'POST', body: { domain: 'Not A Domain' } })), 'VALIDATION_FAILED')
      assert.equal(codeOf(await s.admin('/tenants/acme/domains/globex.example.net', { method: 'DELETE' })), 'NOT_FOUND')
      const removed = await s.admin('/tenants/globex/domains/globex.example.net', { method: 'DELETE' })
      assert.equal(removed.status, 204)
      assert.equal(codeOf(await s.call('/api/me', { host: 'globex.example.net', key })), 'TENANT_NOT_FOUND')
      assert.ok(!(await s.admin('/tenants/globex')).body.domains.includes('globex.example.net'))
    })

    it('creates API keys: 201 {id, key}, each key working for its tenant only', async () => {
      const r = await s.admin('/tenants/globex/api-keys', { method: 'POST', body: { name: 'CI' } })
      assert.equal(r.status, 201)
      assert.deepEqual(Object.keys(r.body).sort(), ['id', 'key'])
      const unnamed = await s.admin('/tenants/globex/api-keys', { method: 'POST' })
      assert.equal(unnamed.status, 201)
      assert.notEqual(unnamed.body.key, r.body.key)
      assert.equal((await s.call('/api/me', { host: 'globex', key: r.body.key })).status, 200)
      assert.equal(codeOf(await s.call('/api/me', { host: 'acme', key: r.body.key })), 'TENANT_MISMATCH')
      assert.equal(codeOf(await s.admin('/tenants/globex/api-keys', { method: 'POST', body: { name: 'x', scope: 'all' } })), 'VALIDATION_FAILED')
      // A key's name follows the catalog's rule (100 UTF-16 code units, storable), refused at the API's own door.
      assert.equal((await s.admin('/tenants/globex/api-keys', { method: 'POST', body: { name: 'k'.repeat(100) } })).status, 201)
      for (const name of ['k'.repeat(101), '🔑'.repeat(51), 'lone \uDC00 half']) {
        const refused = await s.admin('/tenants/globex/api-keys', { method: 'POST', body: { name } })
        assert.equal(codeOf(refused), 'VALIDATION_FAILED', refused.text)
        assert.deepEqual(refused.body.error.details.map((d: { path: string }) => d.path), ['body.name'], refused.text)
      }
    })

    it('suspends a tenant (403 TENANT_SUSPENDED for its traffic, others unaffected) and resumes it', async () => {
      const key = await s.keyFor('globex')
      const other = await s.keyFor('initech')
      const suspended = await s.admin('/tenants/globex/suspend', { method: 'POST' })
      assert.equal(suspended.status, 200)
      assert.equal(suspended.body.status, 'suspended')
      for (const path of ['/api/projects', '/api/me', '/api/stats']) {
        const r = await s.call(path, { host: 'globex', key })
        assert.equal(r.status, 403)
        assert.equal(r.body.error.code, 'TENANT_SUSPENDED')
      }
      assert.equal((await s.call('/api/projects', { host: 'initech', key: other })).status, 200)
      assert.equal(codeOf(await s.admin('/tenants/globex/suspend', { method: 'POST' })), 'CONFLICT')
      assert.equal((await s.admin('/tenants/globex')).body.status, 'suspended')
      const resumed = await s.admin('/tenants/globex/resume', { method: 'POST' })
      assert.equal(resumed.status, 200)
      assert.equal(resumed.body.status, 'active')
      assert.equal((await s.call('/api/projects', { host: 'globex', key })).status, 200)
      assert.equal(codeOf(await s.admin('/tenants/globex/resume', { method: 'POST' })), 'CONFLICT')
    })

    for (const isolation of ['shared', 'schema', 'database'] as const) {
      it(`deletes a ${isolation} tenant with its data; the slug created again sees none of it`, async () => {
        const slug = `reborn-${isolation}`
        assert.equal((await s.admin('/tenants', { method: 'POST', body: { slug, name: 'First life', isolation, domains: [`${slug}.example.org`] } })).status, 201)
        const oldKey = await s.keyFor(slug)
        const project = (await s.call('/api/projects', { host: slug, key: oldKey, method: 'POST', body: { name: 'Old secret' } })).body
        const task = (await s.call(`/api/projects/${project.id}/tasks`, { host: slug, key: oldKey, method: 'POST', body: { title: 'Old task' } })).body
        const old = await s.saas.tenantry.catalog.requireBySlug(slug)
        assert.notEqual(await dataOf(old), isolation === 'shared' ? 'rows:0' : `${isolation === 'schema' ? 'schema' : 'database'}:false`)

        const deleted = await s.admin(`/tenants/${slug}`, { method: 'DELETE' })
        assert.equal(deleted.status, 204)
        assert.equal(deleted.text, '')
        assert.equal(await dataOf(old), isolation === 'shared' ? 'rows:0' : `${isolation === 'schema' ? 'schema' : 'database'}:false`)
        assert.equal(codeOf(await s.admin(`/tenants/${slug}`)), 'TENANT_NOT_FOUND')
        assert.ok(!(await s.admin('/tenants')).body.items.some((t: { slug: string }) => t.slug === slug))
        assert.equal(codeOf(await s.call('/api/projects', { host: slug, key: oldKey })), 'TENANT_NOT_FOUND')
        assert.equal(codeOf(await s.call('/api/projects', { host: `${slug}.example.org`, key: oldKey })), 'TENANT_NOT_FOUND')

        const again = await s.admin('/tenants', { method: 'POST', body: { slug, name: 'Second life', isolation, domains: [`${slug}.example.org`] } })
        assert.equal(again.status, 201, again.text)
        assert.notEqual(again.body.id, old.id)
        const key = await s.keyFor(slug)
        assert.deepEqual((await s.call('/api/projects', { host: slug, key })).body, { items: [], next_cursor: null })
        assert.deepEqual((await s.call('/api/stats', { host: slug, key })).body, { projects: 0, tasks: 0 })
        assert.equal(codeOf(await s.call(`/api/projects/${project.id}`, { host: slug, key })), 'NOT_FOUND')
        assert.equal(codeOf(await s.call(`/api/tasks/${task.id}`, { host: slug, key, method: 'PATCH', body: { title: 'x' } })), 'NOT_FOUND')
        // The old key died with the old tenant.
        const stale = await s.call('/api/projects', { host: slug, key: oldKey })
        assert.ok(stale.status === 401 || stale.status === 403, stale.text)
        assert.equal((await s.admin(`/tenants/${slug}`, { method: 'DELETE' })).status, 204)
      })
    }

    it('exists on the bare host only: a tenant host or a custom domain answers 404 NOT_FOUND', async () => {
      for (const host of ['acme', 'new-shared.example.com', `www.localhost:${s.port}`]) {
        const r = await s.call('/admin/api/tenants', { host, key: s.adminToken })
        assert.equal(r.status, 404, host)
        assert.equal(r.body.error.code, 'NOT_FOUND')
      }
      assert.equal((await s.call('/admin/api/tenants', { host: `127.0.0.1:${s.port}`, key: s.adminToken })).status, 200)
      assert.equal((await s.call('/admin/api/tenants', { host: `[::1]:${s.port}`, key: s.adminToken })).status, 200)
    })

    it('needs the admin token: 401 UNAUTHENTICATED without it, with a wrong one or with a tenant key', async () => {
      const tenantKey = await s.keyFor('acme')
      for (const key of [undefined, 'wrong', `${s.adminToken}x`, s.adminToken.slice(0, -1), tenantKey]) {
        const r = await s.call('/admin/api/tenants', { ...(key === undefined ? {} : { key }) })
        assert.equal(r.status, 401, String(key))
        assert.equal(r.body.error.code, 'UNAUTHENTICATED')
      }
      const basic = await s.call('/admin/api/tenants', { headers: { authorization: `Basic ${Buffer.from(`admin:${s.adminToken}`).toString('base64')}` } })
      assert.equal(codeOf(basic), 'UNAUTHENTICATED')
      // Nothing is created without the token.
      const sneaky = await s.call('/admin/api/tenants', { method: 'POST', body: { slug: 'sneaky', name: 'Sneaky' } })
      assert.equal(sneaky.status, 401)
      assert.equal(await s.saas.tenantry.catalog.getBySlug('sneaky'), undefined)
    })

    it('keeps the shared tables behind FORCE row-level security with the Tenantry policy', async () => {
      const pool = s.saas.tenantry.target.pool
      const { rows } = await pool.query<{ relname: string; rls: boolean; forced: boolean; policies: string }>(
        `select c.relname, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
                (select count(*) from pg_policy p where p.polrelid = c.oid)::text as policies
           from pg_class c where c.relname in ('projects', 'tasks') and c.relnamespace = 'public'::regnamespace order by c.relname`,
      )
      assert.deepEqual(rows, [
        { relname: 'projects', rls: true, forced: true, policies: '1' },
        { relname: 'tasks', rls: true, forced: true, policies: '1' },
      ])
    })
  })
}
