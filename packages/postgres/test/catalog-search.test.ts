import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { TenantSearch, type TenantCatalog, type TenantRecord } from '@tenantry/postgres'
import { expectCode, openCatalog, testBackends, type TestDatabase } from '@tenantry/test-kit'

const slugs = (page: { items: readonly TenantRecord[] }): string[] => page.items.map((t) => t.slug)

for (const backend of testBackends()) {
  describe(`tenant search on ${backend.name}`, () => {
    let db: TestDatabase
    let catalog: TenantCatalog
    let search: TenantSearch
    const ids = new Map<string, string>()

    before(async () => {
      ;({ db, catalog } = await openCatalog(backend))
      search = new TenantSearch({ target: db })
      const made = [
        await catalog.create({ slug: 'alpha', name: 'Zed Corp', plan: 'pro' }),
        await catalog.create({ slug: 'bravo', name: 'yellow 100% Ltd', domains: ['tasks.bravo.example'] }),
        await catalog.create({ slug: 'charlie', name: 'Xavier', isolation: 'schema' }, { placement: { schema: 't_charlie' } }),
        await catalog.create({ slug: 'delta', name: 'alpha partners', plan: 'enterprise' }),
        await catalog.create({ slug: 'echo', name: 'Echo' }),
      ]
      for (const t of made) ids.set(t.slug, t.id)
      await catalog.suspend(ids.get('echo')!)
      const gone = await catalog.create({ slug: 'foxtrot', name: 'Gone' })
      await catalog.beginOffboarding(gone.id)
      await catalog.markDeleted(gone.id)
    })
    after(async () => {
      await db?.close()
    })

    it('pages the tenants not deleted by slug, with the total of the whole match', async () => {
      const first = await search.page({ limit: 2 })
      assert.deepEqual(slugs(first), ['alpha', 'bravo'])
      assert.equal(first.total, 5)
      assert.deepEqual(slugs(await search.page({ limit: 2, offset: 4 })), ['echo'])
      assert.deepEqual(await search.page({ limit: 2, offset: 10 }), { items: [], total: 5 })
      const full = (await search.page({ limit: 1 })).items[0]!
      assert.deepEqual(full, await catalog.requireBySlug('alpha'), 'the same record the catalog returns')
    })

    it('finds a text in the slug, the name (any case) or a custom domain, and a % as itself', async () => {
      assert.deepEqual(slugs(await search.page({ q: 'ALPHA' })), ['alpha', 'delta'])
      assert.deepEqual(slugs(await search.page({ q: 'bravo.example' })), ['bravo'])
      assert.deepEqual(slugs(await search.page({ q: '100%' })), ['bravo'])
      assert.deepEqual(slugs(await search.page({ q: '%' })), ['bravo'])
      assert.deepEqual(slugs(await search.page({ q: '_' })), [])
      assert.deepEqual(slugs(await search.page({ q: '   ' })), ['alpha', 'bravo', 'charlie', 'delta', 'echo'])
    })

    it('filters by status, the deleted ones only when asked', async () => {
      assert.deepEqual(slugs(await search.page({ status: 'suspended' })), ['echo'])
      assert.deepEqual(slugs(await search.page({ status: 'deleted' })), ['foxtrot'])
      assert.equal((await search.page({ status: 'active', q: 'a' })).total, 4)
    })

    it('sorts by each column both ways, ties broken by slug', async () => {
      assert.deepEqual(slugs(await search.page({ sort: 'name' })), ['delta', 'echo', 'charlie', 'bravo', 'alpha'])
      assert.deepEqual(slugs(await search.page({ sort: 'name', order: 'desc' })), ['alpha', 'bravo', 'charlie', 'echo', 'delta'])
      assert.deepEqual(slugs(await search.page({ sort: 'slug', order: 'desc' })), ['echo', 'delta', 'charlie', 'bravo', 'alpha'])
      assert.deepEqual(slugs(await search.page({ sort: 'plan' })), ['delta', 'bravo', 'charlie', 'echo', 'alpha'])
      assert.deepEqual(slugs(await search.page({ sort: 'status', order: 'desc' })), ['echo', 'alpha', 'bravo', 'charlie', 'delta'])
      assert.deepEqual(slugs(await search.page({ sort: 'isolation' })), ['charlie', 'alpha', 'bravo', 'delta', 'echo'])
      assert.deepEqual(slugs(await search.page({ sort: 'placement', order: 'desc' })), ['charlie', 'alpha', 'bravo', 'delta', 'echo'])
      assert.deepEqual(slugs(await search.page({ sort: 'created_at', order: 'desc' })), ['echo', 'delta', 'charlie', 'bravo', 'alpha'])
    })

    it('leaves out the tenants a caller lists itself, and says which of a set of ids match a filter', async () => {
      const rest = await search.page({ exceptIds: [ids.get('alpha')!, ids.get('charlie')!, randomUUID()] })
      assert.deepEqual(slugs(rest), ['bravo', 'delta', 'echo'])
      assert.equal(rest.total, 3)
      const matched = await search.matching([ids.get('alpha')!, ids.get('delta')!, ids.get('echo')!, randomUUID()], { q: 'alpha' })
      assert.deepEqual(matched.map((k) => k.slug).sort(), ['alpha', 'delta'])
      assert.deepEqual(await search.matching([]), [])
      const records = await search.records([ids.get('delta')!, randomUUID(), ids.get('alpha')!])
      assert.deepEqual(records.map((t) => t.slug), ['delta', 'alpha'])
    })

    it('refuses a bad query with VALIDATION_FAILED naming the field', async () => {
      await assert.rejects(search.page({ sort: 'password' as never }), expectCode('VALIDATION_FAILED', /query\.sort must be one of slug/))
      await assert.rejects(search.page({ order: 'up' as never }), expectCode('VALIDATION_FAILED', /query\.order/))
      await assert.rejects(search.page({ limit: 0 }), expectCode('VALIDATION_FAILED', /query\.limit/))
      await assert.rejects(search.page({ offset: -1 }), expectCode('VALIDATION_FAILED', /query\.offset/))
      await assert.rejects(search.page({ q: 'x'.repeat(101) }), expectCode('VALIDATION_FAILED', /query\.q/))
      // Text PostgreSQL cannot take: a 500 (SQLSTATE 22021) before it was refused here.
      for (const q of ['a\u0000b', '\u0000', 'half \uD83D']) {
        await assert.rejects(search.page({ q }), expectCode('VALIDATION_FAILED', /query\.q must not hold a NUL/))
        await assert.rejects(search.matching([], { q }), expectCode('VALIDATION_FAILED', /filter\.q must not hold a NUL/))
      }
      await assert.rejects(search.page({ status: 'gone' as never }), expectCode('VALIDATION_FAILED', /query\.status/))
      await assert.rejects(search.page({ exceptIds: ['not-a-uuid'] }), expectCode('VALIDATION_FAILED', /query\.exceptIds\.0/))
      await assert.rejects(search.page({ cursor: 'x' } as never), expectCode('VALIDATION_FAILED', /query\.cursor/))
      assert.throws(() => new TenantSearch({} as never), expectCode('VALIDATION_FAILED', /target.*pool/))
    })
  })
}
