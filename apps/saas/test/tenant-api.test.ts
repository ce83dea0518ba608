/**
 * The tenant API of docs/reference-saas.md over real HTTP, for a tenant in each isolation
 * model, on PGlite and (with TENANTRY_PG_URL) PostgreSQL: every route, its
 * status and body, keyset pagination, input validation (nothing written, never a
 * 500), the error table rows a tenant route can give, request ids and logs.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TenantryError, type TenantAdmission } from '@tenantry/core'
import { testBackends, codeOf } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const MODELS = [
  { slug: 'acme', isolation: 'shared' },
  { slug: 'globex', isolation: 'schema' },
  { slug: 'initech', isolation: 'database' },
] as const

/** Admission that refuses tenants `limited` and `busy` and counts what it admits and releases. */
function fakeAdmission(): TenantAdmission & { admitted: number; released: number } {
  const fake = {
    admitted: 0,
    released: 0,
    async admit(tenant: { slug: string }) {
      if (tenant.slug === 'limited') {
        throw new TenantryError('RATE_LIMITED', 'Tenant "limited" is over its rate limit', {
          headers: { 'Retry-After': '7', 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=0;t=7' },
        })
      }
      if (tenant.slug === 'busy') throw new TenantryError('OVERLOADED', 'Tenant "busy" has too many requests in flight', { headers: { 'Retry-After': '1' } })
      fake.admitted += 1
      let done = false
      return {
        headers: { 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=99;t=60' },
        release() {
          if (!done) fake.released += 1
          done = true
        },
      }
    },
  }
  return fake
}

for (const backend of testBackends()) {
  describe(`tenant API over HTTP on ${backend.name}`, () => {
    let s: SaasUnderTest
    const keys: Record<string, string> = {}
    const admission = fakeAdmission()

    before(async () => {
      s = await startSaasUnderTest(backend, { admission })
      for (const { slug } of MODELS) keys[slug] = await s.keyFor(slug)
    })
    after(async () => {
      await s?.close()
    })

    for (const { slug, isolation } of MODELS) {
      describe(`${slug} (${isolation} model)`, () => {
        const as = (path: string, options: Parameters<SaasUnderTest['call']>[1] = {}) => s.call(path, { host: slug, key: keys[slug], ...options })

        it('GET /api/me names the tenant, its plan and its model', async () => {
          const r = await as('/api/me')
          assert.equal(r.status, 200)
          assert.deepEqual(r.body, { tenant: { slug, name: r.body.tenant.name, plan: 'free', isolation } })
          assert.equal(typeof r.body.tenant.name, 'string')
        })

        it('creates, reads, renames and deletes a project, its tasks going with it', async () => {
          const created = await as('/api/projects', { method: 'POST', body: { name: 'Launch' } })
          assert.equal(created.status, 201)
          assert.deepEqual(Object.keys(created.body).sort(), ['created_at', 'id', 'name'])
          assert.match(created.body.id, UUID)
          assert.match(created.body.created_at, ISO)
          assert.equal(created.body.name, 'Launch')
          const id = created.body.id as string

          assert.deepEqual((await as(`/api/projects/${id}`)).body, created.body)
          const renamed = await as(`/api/projects/${id}`, { method: 'PATCH', body: { name: 'Launch v2' } })
          assert.equal(renamed.status, 200)
          assert.deepEqual(renamed.body, { ...created.body, name: 'Launch v2' })

          const task = await as(`/api/projects/${id}/tasks`, { method: 'POST', body: { title: 'Write the plan' } })
          assert.equal(task.status, 201)
          assert.deepEqual(Object.keys(task.body).sort(), ['created_at', 'id', 'project_id', 'status', 'title'])
          assert.equal(task.body.project_id, id)
          assert.equal(task.body.status, 'todo')

          const removed = await as(`/api/projects/${id}`, { method: 'DELETE' })
          assert.equal(removed.status, 204)
          assert.equal(removed.text, '')
          assert.equal(codeOf(await as(`/api/projects/${id}`)), 'NOT_FOUND')
          assert.equal(codeOf(await as(`/api/tasks/${task.body.id}`, { method: 'PATCH', body: { status: 'done' } })), 'NOT_FOUND')
          assert.equal(codeOf(await as(`/api/projects/${id}`, { method: 'DELETE' })), 'NOT_FOUND')
        })

        it('creates, lists, patches and deletes tasks', async () => {
          const project = (await as('/api/projects', { method: 'POST', body: { name: 'Tasks' } })).body
          const a = (await as(`/api/projects/${project.id}/tasks`, { method: 'POST', body: { title: 'a' } })).body
          const b = await as(`/api/projects/${project.id}/tasks`, { method: 'POST', body: { title: 'b', status: 'doing' } })
          assert.equal(b.status, 201)
          assert.equal(b.body.status, 'doing')

          const list = await as(`/api/projects/${project.id}/tasks`)
          assert.equal(list.status, 200)
          assert.deepEqual(list.body, { items: [a, b.body], next_cursor: null })

          const patched = await as(`/api/tasks/${a.id}`, { method: 'PATCH', body: { status: 'done' } })
          assert.equal(patched.status, 200)
          assert.deepEqual(patched.body, { ...a, status: 'done' })
          const retitled = await as(`/api/tasks/${a.id}`, { method: 'PATCH', body: { title: 'a2', status: 'todo' } })
          assert.deepEqual(retitled.body, { ...a, title: 'a2', status: 'todo' })

          assert.equal((await as(`/api/tasks/${a.id}`, { method: 'DELETE' })).status, 204)
          assert.equal(codeOf(await as(`/api/tasks/${a.id}`, { method: 'DELETE' })), 'NOT_FOUND')
          assert.deepEqual((await as(`/api/projects/${project.id}/tasks`)).body.items, [b.body])
        })

        it('pages through projects in (created_at, id) order with an opaque cursor', async () => {
          const before = await as('/api/projects?limit=100')
          const names = ['p1', 'p2', 'p3', 'p4', 'p5']
          for (const name of names) assert.equal((await as('/api/projects', { method: 'POST', body: { name } })).status, 201)
          const seen: { id: string; name: string; created_at: string }[] = []
          let cursor: string | null = null
          let pages = 0
          do {
            const r: Awaited<ReturnType<typeof as>> = await as(`/api/projects?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)
            assert.equal(r.status, 200)
            assert.ok(r.body.items.length <= 2)
            seen.push(...r.body.items)
            cursor = r.body.next_cursor
            pages += 1
          } while (cursor !== null && pages < 50)
          assert.equal(seen.length, before.body.items.length + names.length)
          assert.deepEqual(seen.slice(-5).map((p) => p.name), names)
          const sorted = [...seen].sort((x, y) => (x.created_at === y.created_at ? (x.id < y.id ? -1 : 1) : x.created_at < y.created_at ? -1 : 1))
          assert.deepEqual(seen, sorted)
          assert.equal(new Set(seen.map((p) => p.id)).size, seen.length)
        })

        it('counts the tenant\'s projects and tasks', async () => {
          const before = (await as('/api/stats')).body
          assert.deepEqual(Object.keys(before).sort(), ['projects', 'tasks'])
          const p = (await as('/api/projects', { method: 'POST', body: { name: 'Counted' } })).body
          await as(`/api/projects/${p.id}/tasks`, { method: 'POST', body: { title: 'one' } })
          await as(`/api/projects/${p.id}/tasks`, { method: 'POST', body: { title: 'two' } })
          assert.deepEqual((await as('/api/stats')).body, { projects: before.projects + 1, tasks: before.tasks + 2 })
        })
      })
    }

    describe('input validation: 400 VALIDATION_FAILED with details, nothing written', () => {
      const as = (path: string, options: Parameters<SaasUnderTest['call']>[1] = {}) => s.call(path, { host: 'globex', key: keys.globex, ...options })
      let projectId: string
      let taskId: string
      before(async () => {
        projectId = (await as('/api/projects', { method: 'POST', body: { name: 'Valid' } })).body.id
        taskId = (await as(`/api/projects/${projectId}/tasks`, { method: 'POST', body: { title: 'Valid' } })).body.id
      })

      const bad: [string, string, string, unknown, string | undefined][] = [
        ['malformed JSON', 'POST', '/api/projects', '{"name": "x"', 'body'],
        ['an empty JSON body', 'POST', '/api/projects', '', 'body'],
        ['a JSON array', 'POST', '/api/projects', [], 'body'],
        ['no body at all', 'POST', '/api/projects', undefined, 'body'],
        ['a name of the wrong type', 'POST', '/api/projects', { name: 42 }, 'body.name'],
        ['a missing name', 'POST', '/api/projects', {}, 'body.name'],
        ['an empty name', 'POST', '/api/projects', { name: '' }, 'body.name'],
        ['a blank name', 'POST', '/api/projects', { name: '   ' }, 'body.name'],
        ['a name of 201 characters', 'POST', '/api/projects', { name: 'x'.repeat(201) }, 'body.name'],
        ['a NUL character', 'POST', '/api/projects', { name: 'a\u0000b' }, 'body.name'],
        ['half of a surrogate pair in a name (stored, it would read back as U+FFFD)', 'POST', '/api/projects', { name: 'a\uD83Db' }, 'body.name'],
        ['a lone low surrogate in a title', 'POST', `/api/projects/{p}/tasks`, { title: '\uDE80 done' }, 'body.title'],
        ['an unknown field', 'POST', '/api/projects', { name: 'ok', tenant_id: '00000000-0000-4000-8000-000000000000' }, 'body'],
        ['a __proto__ key', 'POST', '/api/projects', '{"name":"ok","__proto__":{"admin":true}}', 'body'],
        ['a title of 501 characters', 'POST', `/api/projects/{p}/tasks`, { title: 'y'.repeat(501) }, 'body.title'],
        ['an unknown status', 'POST', `/api/projects/{p}/tasks`, { title: 'ok', status: 'blocked' }, 'body.status'],
        ['a status of the wrong type', 'PATCH', `/api/tasks/{t}`, { status: 1 }, 'body.status'],
        ['an empty task patch', 'PATCH', `/api/tasks/{t}`, {}, 'body'],
        ['an unknown field in a task patch', 'PATCH', `/api/tasks/{t}`, { title: 'ok', project_id: '00000000-0000-4000-8000-000000000000' }, 'body'],
        ['a project id that is not a UUID', 'GET', '/api/projects/123', undefined, 'params.id'],
        ['a project id with SQL in it', 'GET', `/api/projects/${encodeURIComponent("1' or '1'='1")}`, undefined, 'params.id'],
        ['a task id that is not a UUID', 'DELETE', '/api/tasks/not-a-uuid', undefined, 'params.id'],
        ['a project id that is not a UUID, for its tasks', 'GET', '/api/projects/xyz/tasks', undefined, 'params.id'],
        ['limit 0', 'GET', '/api/projects?limit=0', undefined, 'query.limit'],
        ['limit 101', 'GET', '/api/projects?limit=101', undefined, 'query.limit'],
        ['limit -1', 'GET', '/api/projects?limit=-1', undefined, 'query.limit'],
        ['limit 1.5', 'GET', '/api/projects?limit=1.5', undefined, 'query.limit'],
        ['limit abc', 'GET', '/api/projects?limit=abc', undefined, 'query.limit'],
        ['an empty limit', 'GET', '/api/projects?limit=', undefined, 'query.limit'],
        ['limit given twice', 'GET', '/api/projects?limit=1&limit=2', undefined, 'query.limit'],
        ['a garbage cursor', 'GET', '/api/projects?cursor=garbage', undefined, 'query.cursor'],
        ['a cursor with bad characters', 'GET', `/api/projects?cursor=${encodeURIComponent("x'; drop table projects; --")}`, undefined, 'query.cursor'],
        ['an unknown query parameter', 'GET', '/api/projects?offset=10', undefined, 'query'],
        ['a bad limit on a task list', 'GET', '/api/projects/{p}/tasks?limit=1000', undefined, 'query.limit'],
      ]
      for (const [what, method, rawPath, body, path] of bad) {
        it(`refuses ${what}`, async () => {
          const stats = (await as('/api/stats')).body
          const target = rawPath.replace('{p}', projectId).replace('{t}', taskId)
          const r = await as(target, { method, ...(body === undefined ? {} : { body }) })
          assert.equal(r.status, 400, r.text)
          assert.equal(r.body.error.code, 'VALIDATION_FAILED')
          assert.equal(typeof r.body.error.message, 'string')
          assert.ok(Array.isArray(r.body.error.details) && r.body.error.details.length > 0, r.text)
          if (path !== undefined) assert.ok(r.body.error.details.some((d: { path: string }) => d.path.startsWith(path)), r.text)
          assert.deepEqual((await as('/api/stats')).body, stats)
        })
      }

      it('refuses a tampered cursor: a valid one with a changed id or timestamp', async () => {
        for (const name of ['c1', 'c2', 'c3']) await as('/api/projects', { method: 'POST', body: { name } })
        const first = await as('/api/projects?limit=1')
        const cursor = first.body.next_cursor as string
        const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string]
        const forged = [
          Buffer.from(JSON.stringify([at, 'not-a-uuid'])).toString('base64url'),
          Buffer.from(JSON.stringify(['2024-02-30T00:00:00.000Z', id])).toString('base64url'),
          Buffer.from(JSON.stringify([at, id, 'extra'])).toString('base64url'),
          Buffer.from(JSON.stringify({ at, id })).toString('base64url'),
          `${cursor}A`,
        ]
        for (const bad of forged) {
          const r = await as(`/api/projects?cursor=${bad}`)
          assert.equal(codeOf(r), 'VALIDATION_FAILED', bad)
        }
      })

      it('accepts exactly 200 and 500 characters, emoji counted once', async () => {
        const name = '🚀'.repeat(200)
        const p = await as('/api/projects', { method: 'POST', body: { name } })
        assert.equal(p.status, 201)
        assert.equal(p.body.name, name)
        const t = await as(`/api/projects/${p.body.id}/tasks`, { method: 'POST', body: { title: 't'.repeat(500) } })
        assert.equal(t.status, 201)
      })

      it('answers an unknown project id (a valid UUID) with 404 NOT_FOUND', async () => {
        const ghost = '7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10'
        for (const [method, path, body] of [
          ['GET', `/api/projects/${ghost}`, undefined],
          ['PATCH', `/api/projects/${ghost}`, { name: 'x' }],
          ['DELETE', `/api/projects/${ghost}`, undefined],
          ['GET', `/api/projects/${ghost}/tasks`, undefined],
          ['POST', `/api/projects/${ghost}/tasks`, { title: 'x' }],
          ['PATCH', `/api/tasks/${ghost}`, { title: 'x' }],
          ['DELETE', `/api/tasks/${ghost}`, undefined],
        ] as const) {
          const r = await as(path, { method, ...(body === undefined ? {} : { body }) })
          assert.equal(r.status, 404, `${method} ${path}: ${r.text}`)
          assert.equal(r.body.error.code, 'NOT_FOUND')
        }
      })
    })

    describe('the error table on tenant routes', () => {
      it('TENANT_NOT_IDENTIFIED (400) on the bare host without X-Tenant-ID', async () => {
        const r = await s.call('/api/projects', { host: 'bare', key: keys.acme })
        assert.equal(r.status, 400)
        assert.equal(r.body.error.code, 'TENANT_NOT_IDENTIFIED')
        assert.equal((await s.call('/api/projects', { host: `127.0.0.1:${s.port}`, key: keys.acme })).body.error.code, 'TENANT_NOT_IDENTIFIED')
      })

      it('X-Tenant-ID identifies the tenant on the bare host', async () => {
        const r = await s.call('/api/me', { host: 'bare', key: keys.globex, headers: { 'x-tenant-id': 'globex' } })
        assert.equal(r.status, 200)
        assert.equal(r.body.tenant.slug, 'globex')
      })

      it('TENANT_NOT_FOUND (404) for a subdomain or header that names no tenant', async () => {
        const r = await s.call('/api/projects', { host: 'nosuchtenant', key: keys.acme })
        assert.equal(r.status, 404)
        assert.equal(r.body.error.code, 'TENANT_NOT_FOUND')
        assert.equal(codeOf(await s.call('/api/projects', { host: 'bare', key: keys.acme, headers: { 'x-tenant-id': 'nosuchtenant' } })), 'TENANT_NOT_FOUND')
      })

      it('UNAUTHENTICATED (401) without a key, with an unknown key, or with the admin token', async () => {
        for (const key of [undefined, 'tnt_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'not-a-key', s.adminToken]) {
          const r = await s.call('/api/projects', { host: 'acme', ...(key === undefined ? {} : { key }) })
          assert.equal(r.status, 401, String(key))
          assert.equal(r.body.error.code, 'UNAUTHENTICATED')
        }
      })

      it('TENANT_MISMATCH (403) for another tenant\'s key and for a header that disagrees with the host', async () => {
        const r = await s.call('/api/projects', { host: 'globex', key: keys.acme })
        assert.equal(r.status, 403)
        assert.equal(r.body.error.code, 'TENANT_MISMATCH')
        const header = await s.call('/api/projects', { host: 'acme', key: keys.acme, headers: { 'x-tenant-id': 'globex' } })
        assert.equal(header.status, 403)
        assert.equal(header.body.error.code, 'TENANT_MISMATCH')
      })

      it('NOT_FOUND (404) for an unknown route', async () => {
        const r = await s.call('/api/nothing-here', { host: 'acme', key: keys.acme })
        assert.equal(r.status, 404)
        assert.equal(r.body.error.code, 'NOT_FOUND')
      })

      it('RATE_LIMITED (429) with Retry-After and the RateLimit headers; OVERLOADED (503) with Retry-After', async () => {
        await s.admin('/tenants', { method: 'POST', body: { slug: 'limited', name: 'Limited' } })
        await s.admin('/tenants', { method: 'POST', body: { slug: 'busy', name: 'Busy' } })
        const limited = await s.call('/api/projects', { host: 'limited', key: await s.keyFor('limited') })
        assert.equal(limited.status, 429)
        assert.equal(limited.body.error.code, 'RATE_LIMITED')
        assert.equal(limited.headers['retry-after'], '7')
        assert.equal(limited.headers['ratelimit-policy'], '"default";q=100;w=60')
        assert.equal(limited.headers.ratelimit, '"default";r=0;t=7')
        const busy = await s.call('/api/projects', { host: 'busy', key: await s.keyFor('busy'), headers: { 'x-request-id': 'busy-overloaded-1' } })
        assert.equal(busy.status, 503)
        assert.equal(busy.body.error.code, 'OVERLOADED')
        assert.equal(busy.headers['retry-after'], '1')
        // A refusal under load is not a failure of the server: no error-level line for it.
        const lines = s.logs.filter((l) => l.request_id === 'busy-overloaded-1')
        assert.ok(lines.length >= 1, 'no log line for the OVERLOADED request')
        for (const line of lines) assert.ok((line.level as number) <= 40 && line.msg !== 'request failed', JSON.stringify(line))
      })

      it('sends the admission headers on a success and gives every slot back', async () => {
        const r = await s.call('/api/projects', { host: 'acme', key: keys.acme })
        assert.equal(r.status, 200)
        assert.equal(r.headers['ratelimit-policy'], '"default";q=100;w=60')
        assert.equal(r.headers.ratelimit, '"default";r=99;t=60')
        await new Promise((resolve) => setTimeout(resolve, 50))
        assert.equal(admission.released, admission.admitted)
      })

      it('INTERNAL (500) for a failure it cannot name, with no SQL or stack in the body', async () => {
        const created = await s.admin('/tenants', { method: 'POST', body: { slug: 'broken', name: 'Broken', isolation: 'schema' } })
        assert.equal(created.status, 201)
        const key = await s.keyFor('broken')
        const tenant = await s.saas.tenantry.catalog.requireBySlug('broken')
        // Break the tenant behind the app's back: its tasks table disappears.
        await s.saas.tenantry.target.pool.query(`drop table "${tenant.placement.schema}".tasks`)
        const r = await s.call('/api/stats', { host: 'broken', key })
        assert.equal(r.status, 500)
        assert.equal(r.body.error.code, 'INTERNAL')
        assert.deepEqual(Object.keys(r.body.error), ['code', 'message'])
        assert.doesNotMatch(r.text, /tasks|select|relation|at .*\.ts|stack/i)
        assert.equal((await s.admin('/tenants/broken', { method: 'DELETE' })).status, 204)
      })
    })

    describe('request ids and logs', () => {
      it('echoes a caller\'s x-request-id and makes one otherwise', async () => {
        const given = await s.call('/healthz', { headers: { 'x-request-id': 'trace-abc.123' } })
        assert.equal(given.headers['x-request-id'], 'trace-abc.123')
        const made = await s.call('/healthz')
        assert.match(String(made.headers['x-request-id']), UUID)
        const forged = await s.call('/healthz', { headers: { 'x-request-id': 'bad id\twith "quotes"' } })
        assert.match(String(forged.headers['x-request-id']), UUID)
        const error = await s.call('/api/projects', { host: 'acme', headers: { 'x-request-id': 'err-1' } })
        assert.equal(error.status, 401)
        assert.equal(error.headers['x-request-id'], 'err-1')
      })

      it('GET /healthz needs no tenant', async () => {
        const r = await s.call('/healthz')
        assert.equal(r.status, 200)
        assert.deepEqual(r.body, { ok: true })
        assert.deepEqual((await s.call('/healthz', { host: 'acme' })).body, { ok: true })
      })

      it('puts the tenant on every line of a tenant request, and no key, token or personal data anywhere', async () => {
        const marker = `log-check-${Date.now()}`
        const ok = await s.call('/api/projects', { host: 'initech', key: keys.initech, method: 'POST', body: { name: 'Alice Smith <alice@example.com>' }, headers: { 'x-request-id': marker } })
        assert.equal(ok.status, 201)
        const failing = await s.call(`/api/projects/not-a-uuid`, { host: 'initech', key: keys.initech, headers: { 'x-request-id': `${marker}-2` } })
        assert.equal(failing.status, 400)
        await new Promise((resolve) => setTimeout(resolve, 50))
        for (const id of [marker, `${marker}-2`]) {
          const lines = s.logs.filter((l) => l.request_id === id)
          assert.ok(lines.length >= 1, `no log line for ${id}`)
          for (const line of lines) assert.deepEqual(line.tenant, { id: (await s.saas.tenantry.catalog.requireBySlug('initech')).id, slug: 'initech' }, JSON.stringify(line))
        }
        const all = JSON.stringify(s.logs)
        for (const secret of [...Object.values(keys), s.adminToken]) assert.ok(!all.includes(secret), 'a secret reached the logs')
        assert.ok(!/alice/i.test(all), 'a body reached the logs')
        assert.ok(!/remoteAddress|"127\.0\.0\.1"/.test(all), 'a client address reached the logs')
        assert.ok(!/"(authorization|headers|body)"\s*:/i.test(all), 'headers or a body reached the logs')
      })
    })
  })
}
