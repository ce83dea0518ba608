/**
 * The HTTP contract against the real TenantCatalog (PGlite, and PostgreSQL when
 * TENANTRY_PG_URL is set), behind the cached directory and key verifier, with
 * catalog changes applied in-process.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  CachedApiKeyVerifier,
  CachedTenantDirectory,
  TenantResolution,
  apiKeyAuthenticator,
  applyTenantChange,
} from '@tenantry/core'
import { TenantCatalog } from '@tenantry/postgres'
import { testBackends, type TestBackend } from '../backends.ts'
import { call } from '../http.ts'
import { httpContract, type ContractFixture, type StartApp } from './http-contract.ts'
import { contractResolvers } from './memory-fixture.ts'

interface CatalogFixture extends ContractFixture {
  readonly catalog: TenantCatalog
  readonly ids: { readonly acme: string; readonly acmeKeyId: string }
}

async function catalogFixture(backend: TestBackend): Promise<CatalogFixture> {
  const db = await backend.createDatabase()
  try {
    const catalog = new TenantCatalog({ target: db })
    await catalog.install()
    // Long TTLs: the live-change tests pass only through invalidation.
    const directory = new CachedTenantDirectory(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
    const apiKeys = new CachedApiKeyVerifier(catalog, { ttlMs: 600_000, negativeTtlMs: 600_000 })
    const off = catalog.onChange((change) => applyTenantChange(change, { directory, apiKeys }))
    const acme = await catalog.create({ slug: 'acme', name: 'Acme', domains: ['tasks.acme.test'] })
    const globex = await catalog.create({ slug: 'globex', name: 'Globex', isolation: 'schema' })
    const initech = await catalog.create({ slug: 'initech', name: 'Initech', isolation: 'database' })
    const [acmeKey, globexKey, initechKey] = await Promise.all([acme, globex, initech].map((t) => catalog.createApiKey(t.id)))
    await catalog.suspend(initech.id)
    return {
      catalog,
      ids: { acme: acme.id, acmeKeyId: acmeKey!.id },
      options: { resolution: new TenantResolution({ resolvers: contractResolvers(), directory }), authenticate: apiKeyAuthenticator(apiKeys) },
      acme: { slug: 'acme', key: acmeKey!.key, domain: 'tasks.acme.test' },
      globex: { slug: 'globex', key: globexKey!.key },
      initech: { slug: 'initech', key: initechKey!.key },
      async close() {
        off()
        await db.close()
      },
    }
  } catch (error) {
    await db.close()
    throw error
  }
}

export function catalogContract(adapter: string, start: StartApp): void {
  for (const backend of testBackends()) {
    // One catalog per backend and file (installing it is the slow part); the live-change
    // tests run last because they change acme, and they close it.
    let shared: Promise<CatalogFixture> | undefined
    const fixtureOnce = () => (shared ??= catalogFixture(backend))
    httpContract(`${adapter} on the ${backend.name} catalog`, start, async () => ({ ...(await fixtureOnce()), close: async () => {} }))

    describe(`${adapter} on the ${backend.name} catalog: live changes`, () => {
      let fixture: CatalogFixture
      let app: Awaited<ReturnType<StartApp>>
      before(async () => {
        fixture = await fixtureOnce()
        app = await start({ ...fixture.options, exclude: ['/healthz'] })
      })
      after(async () => {
        await app?.close()
        await (await shared)?.close()
      })
      const whoami = (key: string, host = 'acme.localhost') => call(app.port, { path: '/api/whoami', host, headers: { authorization: `Bearer ${key}` } })

      it('stops serving a tenant the moment it is suspended, and serves it again on resume', async () => {
        assert.equal((await whoami(fixture.acme.key)).status, 200)
        await fixture.catalog.suspend(fixture.ids.acme)
        const suspended = await whoami(fixture.acme.key)
        assert.equal(suspended.status, 403)
        assert.equal(suspended.body.error.code, 'TENANT_SUSPENDED')
        await fixture.catalog.resume(fixture.ids.acme)
        assert.equal((await whoami(fixture.acme.key)).status, 200)
      })

      it('refuses a key the moment it is revoked, and a domain the moment it is removed', async () => {
        assert.equal((await whoami(fixture.acme.key, 'tasks.acme.test')).status, 200)
        await fixture.catalog.removeDomain('tasks.acme.test')
        const gone = await whoami(fixture.acme.key, 'tasks.acme.test')
        assert.equal(gone.body?.error?.code, 'TENANT_NOT_FOUND', gone.text)
        await fixture.catalog.revokeApiKey(fixture.ids.acmeKeyId)
        const revoked = await whoami(fixture.acme.key)
        assert.equal(revoked.status, 401)
        assert.equal(revoked.body.error.code, 'UNAUTHENTICATED')
      })
    })
  }
}
