import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { TenantCatalog, type TenantRecord } from '@tenantry/postgres'
import { catalogSchemaVersion } from '@tenantry/postgres/internal'
import { openCatalog, expectCode, slugFor, testBackends, type TestDatabase } from '@tenantry/test-kit'

/** A slug no other test uses. */


async function countRows(db: TestDatabase, table: string): Promise<number> {
  const result = await db.pool.query<{ n: number }>(`select count(*)::int as n from tenantry.${table}`)
  return result.rows[0]?.n ?? -1
}


for (const backend of testBackends()) {
  describe(`tenant catalog on ${backend.name}`, () => {
    describe('install', () => {
      let fresh: TestDatabase
      before(async () => {
        fresh = await backend.createDatabase()
      })
      after(async () => {
        await fresh.close()
      })

      it('installs the tenantry schema once and finds nothing to do the second time', async () => {
        const catalog = new TenantCatalog(fresh)
        assert.deepEqual(await catalog.install(), { version: catalogSchemaVersion, applied: [1, 2] })
        await catalog.create({ slug: 'survivor', name: 'Survivor' })
        assert.deepEqual(await catalog.install(), { version: catalogSchemaVersion, applied: [] })
        assert.equal((await catalog.requireBySlug('survivor')).name, 'Survivor')
        const tables = await fresh.pool.query<{ table_name: string }>(
          "select table_name from information_schema.tables where table_schema = 'tenantry' order by table_name",
        )
        assert.deepEqual(tables.rows.map((r) => r.table_name), ['api_keys', 'audit_log', 'catalog_version', 'domains', 'migration_heads', 'migrations', 'tenants'])
      })

      it('lets concurrent installers run without an error', async () => {
        const other = await backend.createDatabase()
        try {
          const installs = await Promise.all([0, 1, 2, 3].map(() => new TenantCatalog(other).install()))
          assert.equal(installs.filter((r) => r.applied.length > 0).length, 1)
          assert.ok(installs.every((r) => r.version === catalogSchemaVersion))
        } finally {
          await other.close()
        }
      })

      it('refuses to be built without a pool', () => {
        assert.throws(() => new TenantCatalog({} as never), expectCode('VALIDATION_FAILED', /target.*pool/))
      })
    })

    describe('tenants', () => {
      let db: TestDatabase
      let catalog: TenantCatalog
      before(async () => {
        ;({ db, catalog } = await openCatalog(backend))
      })
      after(async () => {
        await db.close()
      })

      it('creates an active tenant with plan free, shared isolation and empty settings by default', async () => {
        const slug = slugFor('acme')
        const tenant = await catalog.create({ slug, name: 'Acme Corp' })
        assert.match(tenant.id, /^[0-9a-f-]{36}$/)
        assert.equal(tenant.slug, slug)
        assert.equal(tenant.status, 'active')
        assert.equal(tenant.plan, 'free')
        assert.equal(tenant.isolation, 'shared')
        assert.deepEqual(tenant.settings, {})
        assert.deepEqual(tenant.placement, {})
        assert.deepEqual(tenant.domains, [])
        assert.equal(tenant.deletedAt, undefined)
        assert.ok(tenant.createdAt instanceof Date)
      })

      it('creates a provisioning tenant when told not to activate it', async () => {
        const tenant = await catalog.create({ slug: slugFor('later'), name: 'Later' }, { activate: false })
        assert.equal(tenant.status, 'provisioning')
      })

      it('stores plan, isolation, settings, placement and domains given at creation', async () => {
        const slug = slugFor('globex')
        const tenant = await catalog.create(
          { slug, name: 'Globex', plan: 'pro', isolation: 'schema', settings: { seats: 5 }, domains: [`b.${slug}.com`, `a.${slug}.com`] },
          { placement: { schema: `tenant_${slug}` } },
        )
        assert.equal(tenant.plan, 'pro')
        assert.equal(tenant.isolation, 'schema')
        assert.deepEqual(tenant.settings, { seats: 5 })
        assert.deepEqual(tenant.placement, { schema: `tenant_${slug}` })
        assert.deepEqual(tenant.domains, [`a.${slug}.com`, `b.${slug}.com`])
        assert.deepEqual(await catalog.getById(tenant.id), tenant)
      })

      it('finds a tenant by id, slug and domain', async () => {
        const slug = slugFor('find')
        const created = await catalog.create({ slug, name: 'Find me', domains: [`app.${slug}.io`] })
        assert.deepEqual(await catalog.getById(created.id), created)
        assert.deepEqual(await catalog.getBySlug(slug), created)
        assert.deepEqual(await catalog.getByDomain(`app.${slug}.io`), created)
        assert.deepEqual(await catalog.requireById(created.id), created)
        assert.deepEqual(await catalog.requireBySlug(slug), created)
        assert.deepEqual(await catalog.requireByDomain(`app.${slug}.io`), created)
      })

      it('answers undefined for unknown tenants, and TENANT_NOT_FOUND from the require variants', async () => {
        assert.equal(await catalog.getById(randomUUID()), undefined)
        assert.equal(await catalog.getBySlug(slugFor('nobody')), undefined)
        assert.equal(await catalog.getByDomain('nobody.example.com'), undefined)
        await assert.rejects(catalog.requireById(randomUUID()), expectCode('TENANT_NOT_FOUND'))
        await assert.rejects(catalog.requireBySlug(slugFor('nobody')), expectCode('TENANT_NOT_FOUND', /slug/))
        await assert.rejects(catalog.requireByDomain('nobody.example.com'), expectCode('TENANT_NOT_FOUND', /domain/))
      })

      it('rejects malformed ids, slugs and domains on lookup with VALIDATION_FAILED', async () => {
        await assert.rejects(catalog.getById('42'), expectCode('VALIDATION_FAILED', /id must be a UUID/))
        await assert.rejects(catalog.getBySlug('Not A Slug'), expectCode('VALIDATION_FAILED', /slug/))
        await assert.rejects(catalog.getByDomain('App.Example.com'), expectCode('VALIDATION_FAILED', /lowercase/))
        await assert.rejects(catalog.getByDomain('example.com:3000'), expectCode('VALIDATION_FAILED', /port/))
      })

      it('rejects reserved and malformed slugs with VALIDATION_FAILED and writes nothing', async () => {
        const before = [await countRows(db, 'tenants'), await countRows(db, 'audit_log')]
        for (const slug of ['www', 'admin', 'api', 'tenantry', 'public', 'pg_catalog', 'pg-x', 'information_schema', 'Acme', '-acme', 'acme-', 'ac_me', 'a'.repeat(64), '', 42]) {
          await assert.rejects(catalog.create({ slug, name: 'Bad' }), expectCode('VALIDATION_FAILED'), String(slug))
        }
        assert.deepEqual([await countRows(db, 'tenants'), await countRows(db, 'audit_log')], before)
      })

      it('lists every problem of a bad input in details', async () => {
        await assert.rejects(catalog.create({ slug: 'www', name: '', isolation: 'cluster', domains: ['x'], colour: 'red' }), (error: unknown) => {
          assert.ok(isTenantryError(error, 'VALIDATION_FAILED'))
          const paths = (error.details as { path: string }[]).map((d) => d.path).sort()
          assert.deepEqual(paths, ['colour', 'domains.0', 'isolation', 'name', 'slug'])
          return true
        })
      })

      it('rejects bad create options with VALIDATION_FAILED', async () => {
        await assert.rejects(catalog.create({ slug: slugFor('opt'), name: 'Opt' }, { activate: 'yes' } as never), expectCode('VALIDATION_FAILED', /activate/))
        await assert.rejects(catalog.create({ slug: slugFor('opt'), name: 'Opt' }, { placement: { rack: 'a' } } as never), expectCode('VALIDATION_FAILED', /placement/))
        // PostgreSQL cuts an identifier to 63 bytes (two long names could meet in one schema), and cannot store half a surrogate pair.
        for (const schema of ['é'.repeat(32), 't_\uD800', 't\u0000x', '']) {
          await assert.rejects(catalog.create({ slug: slugFor('opt'), name: 'Opt' }, { placement: { schema } }), expectCode('VALIDATION_FAILED', /placement\.schema/), JSON.stringify(schema))
        }
        const fits = slugFor('opt')
        assert.equal((await catalog.create({ slug: fits, name: 'Opt' }, { placement: { schema: `t_${'é'.repeat(30)}` } })).placement?.schema, `t_${'é'.repeat(30)}`)
        // What is stored is what was checked: a getter read once, a hidden toJSON not asked.
        let reads = 0
        const changing = Object.defineProperty({}, 'schema', { enumerable: true, get: () => (++reads === 1 ? 't_checked' : `t_${'x'.repeat(80)}`) })
        assert.equal((await catalog.create({ slug: slugFor('opt'), name: 'Opt' }, { placement: changing })).placement?.schema, 't_checked')
        assert.equal(reads, 1)
        const hidden = Object.defineProperty({ schema: 't_shown' }, 'toJSON', { value: () => ({ schema: 't_hidden', server: '../x' }) })
        assert.deepEqual((await catalog.create({ slug: slugFor('opt'), name: 'Opt' }, { placement: hidden })).placement, { schema: 't_shown' })
      })

      it('rejects a taken slug with CONFLICT and leaves the first tenant untouched', async () => {
        const slug = slugFor('taken')
        const first = await catalog.create({ slug, name: 'First' })
        const tenants = await countRows(db, 'tenants')
        await assert.rejects(catalog.create({ slug, name: 'Second' }), expectCode('CONFLICT', new RegExp(`Slug "${slug}" is taken`)))
        assert.equal(await countRows(db, 'tenants'), tenants)
        assert.deepEqual(await catalog.getBySlug(slug), first)
      })

      it('rejects a domain of another tenant with CONFLICT and writes neither tenant nor domains', async () => {
        const slug = slugFor('owner')
        await catalog.create({ slug, name: 'Owner', domains: [`shop.${slug}.com`] })
        const before = [await countRows(db, 'tenants'), await countRows(db, 'domains')]
        const intruder = slugFor('intruder')
        await assert.rejects(
          catalog.create({ slug: intruder, name: 'Intruder', domains: [`new.${intruder}.com`, `shop.${slug}.com`] }),
          expectCode('CONFLICT', new RegExp(`shop\\.${slug}\\.com`)),
        )
        assert.deepEqual([await countRows(db, 'tenants'), await countRows(db, 'domains')], before)
        assert.equal(await catalog.getBySlug(intruder), undefined)
      })

      it('rejects a domain listed twice in one input', async () => {
        const slug = slugFor('twice')
        await assert.rejects(catalog.create({ slug, name: 'Twice', domains: [`a.${slug}.com`, `a.${slug}.com`] }), expectCode('VALIDATION_FAILED', /domains\.1/))
      })

      it('lets exactly one of concurrent creates of the same slug win', async () => {
        const slug = slugFor('race')
        const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => catalog.create({ slug, name: `Racer ${i}` })))
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        assert.equal(won.length, 1)
        assert.equal(lost.length, 4)
        for (const loss of lost) assert.ok(isTenantryError(loss.reason, 'CONFLICT'), String(loss.reason))
        const rows = await db.pool.query('select id from tenantry.tenants where slug = $1', [slug])
        assert.equal(rows.rowCount, 1)
      })

      it('updates name and plan and moves updatedAt forward', async () => {
        const tenant = await catalog.create({ slug: slugFor('upd'), name: 'Before' })
        const updated = await catalog.update(tenant.id, { name: 'After', plan: 'enterprise' })
        assert.equal(updated.name, 'After')
        assert.equal(updated.plan, 'enterprise')
        assert.equal(updated.slug, tenant.slug)
        assert.ok(updated.updatedAt.getTime() >= tenant.updatedAt.getTime())
        assert.deepEqual(await catalog.getById(tenant.id), updated)
      })

      it('replaces settings whole instead of merging them', async () => {
        const tenant = await catalog.create({ slug: slugFor('settings'), name: 'Settings', settings: { seats: 5, theme: 'dark' } })
        const updated = await catalog.update(tenant.id, { settings: { seats: 10 } })
        assert.deepEqual(updated.settings, { seats: 10 })
      })

      it('treats an empty patch as no change', async () => {
        const tenant = await catalog.create({ slug: slugFor('empty'), name: 'Empty' })
        assert.deepEqual(await catalog.update(tenant.id, {}), tenant)
      })

      it('rejects a bad patch with VALIDATION_FAILED and changes nothing', async () => {
        const tenant = await catalog.create({ slug: slugFor('patch'), name: 'Patch' })
        await assert.rejects(catalog.update(tenant.id, { slug: 'other', plan: 'Not Valid' }), (error: unknown) => {
          assert.ok(isTenantryError(error, 'VALIDATION_FAILED'))
          assert.deepEqual((error.details as { path: string }[]).map((d) => d.path).sort(), ['plan', 'slug'])
          return true
        })
        await assert.rejects(catalog.update('nope', { name: 'x' }), expectCode('VALIDATION_FAILED', /UUID/))
        assert.deepEqual(await catalog.getById(tenant.id), tenant)
      })

      it('answers TENANT_NOT_FOUND when updating an unknown tenant', async () => {
        await assert.rejects(catalog.update(randomUUID(), { name: 'Ghost' }), expectCode('TENANT_NOT_FOUND'))
      })

      it('pages through tenants oldest first without gaps or repeats, ties broken by id', async () => {
        const mine: TenantRecord[] = []
        for (let i = 0; i < 5; i++) mine.push(await catalog.create({ slug: slugFor(`page${i}`), name: `Page ${i}` }))
        // Same created_at for all five: only the id can order them.
        await db.pool.query("update tenantry.tenants set created_at = '2001-02-03 04:05:06.789012+00' where id = any($1::uuid[])", [mine.map((t) => t.id)])
        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await catalog.list({ limit: 2, ...(cursor ? { cursor } : {}) })
          assert.ok(page.items.length <= 2)
          seen.push(...page.items.map((t) => t.id))
          cursor = page.nextCursor
          pages++
        } while (cursor !== undefined && pages < 1000)
        const all = (await catalog.list({ limit: 500 })).items.map((t) => t.id)
        assert.deepEqual(seen, all)
        assert.equal(new Set(seen).size, seen.length)
        assert.deepEqual(seen.slice(0, 5), mine.map((t) => t.id).sort())
      })

      it('filters the list by status', async () => {
        const waiting = await catalog.create({ slug: slugFor('waiting'), name: 'Waiting' }, { activate: false })
        const page = await catalog.list({ status: 'provisioning', limit: 500 })
        assert.ok(page.items.some((t) => t.id === waiting.id))
        assert.ok(page.items.every((t) => t.status === 'provisioning'))
      })

      it('rejects a forged cursor, a bad status and an out-of-range limit with VALIDATION_FAILED', async () => {
        await assert.rejects(catalog.list({ cursor: 'not-a-cursor' }), expectCode('VALIDATION_FAILED', /cursor/))
        await assert.rejects(catalog.list({ cursor: Buffer.from('["2020-01-01", "x"]').toString('base64url') }), expectCode('VALIDATION_FAILED', /cursor/))
        await assert.rejects(catalog.list({ status: 'gone' as never }), expectCode('VALIDATION_FAILED', /status/))
        await assert.rejects(catalog.list({ limit: 0 }), expectCode('VALIDATION_FAILED', /limit/))
        await assert.rejects(catalog.list({ limit: 501 }), expectCode('VALIDATION_FAILED', /limit/))
      })
    })
  })
}
