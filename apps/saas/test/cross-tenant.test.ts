/**
 * Tenants attacking each other over HTTP, across all three isolation models, on
 * PGlite and (with TENANTRY_PG_URL) PostgreSQL: keys on the wrong host, a header
 * that disagrees with the host, reading, changing and deleting another tenant's
 * project and task ids (404 NOT_FOUND, the rows untouched), and many concurrent
 * requests from several tenants whose answers never mix.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { testBackends, codeOf, type HttpAnswer as Answer } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const TENANTS = ['acme', 'globex', 'initech'] as const
type Slug = (typeof TENANTS)[number]

interface Owned {
  readonly key: string
  readonly project: { id: string; name: string; created_at: string }
  readonly task: { id: string; project_id: string; title: string; status: string; created_at: string }
}

for (const backend of testBackends()) {
  describe(`cross-tenant attempts over HTTP on ${backend.name}`, () => {
    let s: SaasUnderTest
    const owned = {} as Record<Slug, Owned>
    const as = (slug: Slug, path: string, options: Parameters<SaasUnderTest['call']>[1] = {}): Promise<Answer> =>
      s.call(path, { host: slug, key: owned[slug].key, ...options })

    before(async () => {
      s = await startSaasUnderTest(backend)
      for (const slug of TENANTS) {
        const key = await s.keyFor(slug)
        const project = (await s.call('/api/projects', { host: slug, key, method: 'POST', body: { name: `${slug}'s secret plan` } })).body
        const task = (await s.call(`/api/projects/${project.id}/tasks`, { host: slug, key, method: 'POST', body: { title: `${slug}'s secret task` } })).body
        owned[slug] = { key, project, task }
      }
    })
    after(async () => {
      await s?.close()
    })

    /** The owner still sees exactly what it had. */
    async function unchanged(slug: Slug): Promise<void> {
      const { project, task } = owned[slug]
      assert.deepEqual((await as(slug, `/api/projects/${project.id}`)).body, project)
      assert.deepEqual((await as(slug, `/api/projects/${project.id}/tasks`)).body, { items: [task], next_cursor: null })
    }

    for (const attacker of TENANTS) {
      for (const victim of TENANTS) {
        if (attacker === victim) continue
        it(`${attacker}'s key on ${victim}'s host is 403 TENANT_MISMATCH, for reads and writes`, async () => {
          const key = owned[attacker].key
          for (const [method, path, body] of [
            ['GET', '/api/projects', undefined],
            ['GET', `/api/projects/${owned[victim].project.id}`, undefined],
            ['POST', '/api/projects', { name: 'planted' }],
            ['DELETE', `/api/tasks/${owned[victim].task.id}`, undefined],
          ] as const) {
            const r = await s.call(path, { host: victim, key, method, ...(body === undefined ? {} : { body }) })
            assert.equal(r.status, 403, `${method} ${path}: ${r.text}`)
            assert.equal(r.body.error.code, 'TENANT_MISMATCH')
          }
          // The same key through X-Tenant-ID on the bare host is refused too.
          assert.equal(codeOf(await s.call('/api/projects', { host: 'bare', key, headers: { 'x-tenant-id': victim } })), 'TENANT_MISMATCH')
          await unchanged(victim)
        })

        it(`${attacker} reading, changing and deleting ${victim}'s ids gets 404 NOT_FOUND and changes nothing`, async () => {
          const { project, task } = owned[victim]
          const before = (await as(attacker, '/api/stats')).body
          for (const [method, path, body] of [
            ['GET', `/api/projects/${project.id}`, undefined],
            ['PATCH', `/api/projects/${project.id}`, { name: 'pwned' }],
            ['DELETE', `/api/projects/${project.id}`, undefined],
            ['GET', `/api/projects/${project.id}/tasks`, undefined],
            ['POST', `/api/projects/${project.id}/tasks`, { title: 'planted' }],
            ['PATCH', `/api/tasks/${task.id}`, { title: 'pwned', status: 'done' }],
            ['DELETE', `/api/tasks/${task.id}`, undefined],
          ] as const) {
            const r = await as(attacker, path, { method, ...(body === undefined ? {} : { body }) })
            assert.equal(r.status, 404, `${method} ${path}: ${r.text}`)
            assert.equal(r.body.error.code, 'NOT_FOUND')
            // Exactly what an id that never existed gets.
            assert.doesNotMatch(r.text, new RegExp(victim))
          }
          await unchanged(victim)
          assert.deepEqual((await as(attacker, '/api/stats')).body, before)
          const listed = (await as(attacker, '/api/projects?limit=100')).body.items as { id: string }[]
          assert.ok(!listed.some((p) => p.id === project.id))
        })
      }
    }

    it('a header that disagrees with the host is 403 TENANT_MISMATCH, even with a key of either tenant', async () => {
      for (const key of [owned.acme.key, owned.globex.key]) {
        const r = await s.call('/api/projects', { host: 'acme', key, headers: { 'x-tenant-id': 'globex' } })
        assert.equal(r.status, 403)
        assert.equal(r.body.error.code, 'TENANT_MISMATCH')
      }
      assert.equal(codeOf(await s.call('/api/projects', { host: 'acme', key: owned.acme.key, headers: { 'x-tenant-id': 'nosuch' } })), 'TENANT_NOT_FOUND')
      assert.equal((await s.call('/api/projects', { host: 'acme', key: owned.acme.key, headers: { 'x-tenant-id': 'acme' } })).status, 200)
    })

    it('a suspended tenant is refused whatever its key or route, and the others keep working', async () => {
      assert.equal((await s.admin('/tenants/initech/suspend', { method: 'POST' })).status, 200)
      try {
        for (const path of ['/api/me', '/api/projects', `/api/projects/${owned.initech.project.id}`]) {
          assert.equal(codeOf(await as('initech', path)), 'TENANT_SUSPENDED')
        }
        assert.equal(codeOf(await as('initech', '/api/projects', { method: 'POST', body: { name: 'while suspended' } })), 'TENANT_SUSPENDED')
        assert.equal(codeOf(await s.call('/api/projects', { host: 'bare', key: owned.initech.key, headers: { 'x-tenant-id': 'initech' } })), 'TENANT_SUSPENDED')
        await unchanged('acme')
        await unchanged('globex')
      } finally {
        assert.equal((await s.admin('/tenants/initech/resume', { method: 'POST' })).status, 200)
      }
      await unchanged('initech')
    })

    it('many concurrent requests from the three tenants (all three models) never mix their answers', async () => {
      const perTenant = 12
      const mine = {} as Record<Slug, Set<string>>
      const names = {} as Record<Slug, Set<string>>
      for (const slug of TENANTS) {
        const items = (await as(slug, '/api/projects?limit=100')).body.items as { id: string; name: string }[]
        mine[slug] = new Set(items.map((p) => p.id))
        names[slug] = new Set(items.map((p) => p.name))
      }
      // Concurrent writes first: each tenant creates its projects at the same time as the others.
      const writes = await Promise.all(
        TENANTS.flatMap((slug) =>
          Array.from({ length: perTenant }, (_, i) => as(slug, '/api/projects', { method: 'POST', body: { name: `${slug}-${i}` } }).then((r) => ({ slug, r }))),
        ),
      )
      for (const { slug, r } of writes) {
        assert.equal(r.status, 201, r.text)
        assert.ok(r.body.name.startsWith(`${slug}-`))
        mine[slug].add(r.body.id)
        names[slug].add(r.body.name)
      }
      // Then a mixed storm of reads, interleaved across tenants.
      const reads: Promise<void>[] = []
      for (let round = 0; round < 10; round++) {
        for (const slug of TENANTS) {
          const ids = [...mine[slug]]
          const id = ids[(round * 7) % ids.length] as string
          reads.push(
            as(slug, '/api/me').then((r) => assert.equal(r.body.tenant.slug, slug)),
            as(slug, `/api/projects/${id}`).then((r) => {
              assert.equal(r.status, 200, r.text)
              assert.equal(r.body.id, id)
            }),
            as(slug, '/api/projects?limit=100').then((r) => {
              const got = (r.body.items as { id: string; name: string }[])
              assert.deepEqual(new Set(got.map((p) => p.id)), mine[slug], `${slug} saw another tenant's projects`)
              for (const p of got) assert.ok(names[slug].has(p.name), p.name)
            }),
            as(slug, '/api/stats').then((r) => assert.equal(r.body.projects, mine[slug].size)),
          )
        }
      }
      await Promise.all(reads)
      for (const slug of TENANTS) await unchanged(slug)
    })
  })
}
