/**
 * TenantryModule with what createTenantry() returns, on embedded PGlite (one
 * per file), on both platforms: @CurrentTenant(), the injected Kysely and pool
 * serving two tenants walled apart, a service's TenantryError reaching the
 * client, the refusals made before the controller (unknown tenant, suspended,
 * rate limited with its headers), and forRootAsync.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Body, Controller, Get, Inject, Injectable, Module, Param, Post, UseGuards, type CanActivate } from '@nestjs/common'
import { TenantryError, currentTenant, type Tenant } from '@tenantry/core'
import { call, type HttpAnswer, type RunningApp } from '@tenantry/test-kit'
import type { Generated, Kysely } from 'kysely'
import { createTenantry, type Tenantry } from 'tenantry'
import { CurrentTenant, InjectTenantDb, InjectTenantPool, TENANTRY, TenantryModule } from '../src/index.ts'
import { constructorParameter, method, parameter } from './support/decorate.ts'
import { listen, platforms } from './support/nest-app.ts'

interface Database {
  projects: { id: Generated<string>; tenant_id: Generated<string>; name: string }
}

interface Pool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

class ProjectsService {
  constructor(private readonly db: Kysely<Database>, private readonly pool: Pool) {}

  async create(name: unknown) {
    if (typeof name !== 'string' || name.length === 0) throw new TenantryError('VALIDATION_FAILED', 'name: must be a non-empty string', { details: [{ path: 'body.name', message: 'must be a non-empty string' }] })
    const taken = await this.db.selectFrom('projects').select('id').where('name', '=', name).executeTakeFirst()
    if (taken !== undefined) throw new TenantryError('CONFLICT', `A project named "${name}" exists`)
    return this.db.insertInto('projects').values({ name }).returning(['id', 'name']).executeTakeFirstOrThrow()
  }

  async list() {
    const rows = await this.db.selectFrom('projects').select('name').orderBy('name').execute()
    return rows.map((r) => r.name)
  }

  async get(id: string) {
    const row = await this.db.selectFrom('projects').select(['id', 'name']).where('id', '=', id).executeTakeFirst()
    if (row === undefined) throw new TenantryError('NOT_FOUND', `No project ${id}`)
    return row
  }

  /** Raw SQL on the tenant-scoped pool: no tenant predicate here; row-level security picks the rows. */
  async namesBySql() {
    const { rows } = await this.pool.query('select name from projects order by name')
    return rows.map((r) => r.name)
  }
}
Injectable()(ProjectsService)
constructorParameter(ProjectsService, 0, InjectTenantDb())
constructorParameter(ProjectsService, 1, InjectTenantPool())

/** A guard that runs in the tenant's scope: only acme may call the guarded route. */
class AcmeOnlyGuard implements CanActivate {
  canActivate(): boolean {
    return currentTenant().slug === 'acme'
  }
}
Injectable()(AcmeOnlyGuard)

class ProjectsController {
  constructor(private readonly projects: ProjectsService) {}
  me(tenant: Tenant, slug: string) {
    return { slug: tenant.slug, name: tenant.name, plan: tenant.plan, frozen: Object.isFrozen(tenant), bySlug: slug }
  }
  create(body: { name?: unknown }) {
    return this.projects.create(body?.name)
  }
  list() {
    return this.projects.list()
  }
  sql() {
    return this.projects.namesBySql()
  }
  get(id: string) {
    return this.projects.get(id)
  }
}
Controller('api')(ProjectsController)
constructorParameter(ProjectsController, 0, Inject(ProjectsService))
method(ProjectsController, 'me', Get('me'))
parameter(ProjectsController, 'me', 0, CurrentTenant())
parameter(ProjectsController, 'me', 1, CurrentTenant('slug'))
method(ProjectsController, 'create', Post('projects'))
parameter(ProjectsController, 'create', 0, Body())
method(ProjectsController, 'list', Get('projects'))
method(ProjectsController, 'sql', Get('projects-by-sql'))
method(ProjectsController, 'get', Get('projects/:id'))
parameter(ProjectsController, 'get', 0, Param('id'))

class HealthController {
  constructor(private readonly tenantry: Tenantry) {}
  health() {
    return { ok: typeof this.tenantry.tenants.create === 'function' }
  }
}
Controller('healthz')(HealthController)
constructorParameter(HealthController, 0, Inject(TENANTRY))
method(HealthController, 'health', Get())

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

describe('TenantryModule with createTenantry() on embedded PGlite', () => {
  let tenantry: Tenantry<Database>
  const keys: Record<string, string> = {}
  const logged: unknown[] = []

  before(async () => {
    tenantry = await createTenantry<Database>({
      database: { embedded: 'memory' },
      models: { shared: { tables: ['projects'] } },
      migrations: {
        tenant: [{ id: '0001_projects', up: 'create table projects (id uuid primary key default gen_random_uuid(), tenant_id uuid not null, name text not null); create index on projects (tenant_id)' }],
      },
      resolution: { baseDomains: ['localhost'] },
      plans: { free: { rateLimit: { limit: 1000, windowMs: 60_000 } }, tiny: { rateLimit: { limit: 1, windowMs: 60_000 } } },
      defaultPlan: 'free',
      onWarning: () => undefined,
    })
    for (const [slug, plan] of [['acme', 'free'], ['globex', 'free'], ['initech', 'free'], ['hooli', 'tiny'], ['piedpiper', 'tiny']] as const) {
      await tenantry.tenants.create({ slug, name: slug.toUpperCase(), plan })
      keys[slug] = (await tenantry.tenants.createApiKey(slug)).key
    }
    await tenantry.tenants.suspend('initech')
  })
  after(async () => {
    await tenantry?.close()
  })

  for (const platform of platforms) {
    describe(`on ${platform}`, () => {
      let app: RunningApp
      const as = (slug: string, path: string, extra: { method?: string; body?: unknown } = {}): Promise<HttpAnswer> =>
        call(app.port, { path, host: `${slug}.localhost`, headers: bearer(keys[slug]!), ...extra })

      before(async () => {
        class GuardedController {
          secret() {
            return { secret: currentTenant().slug }
          }
        }
        Controller('api/secret')(GuardedController)
        method(GuardedController, 'secret', Get(), UseGuards(AcmeOnlyGuard))
        app = await listen(platform, {
          imports: [TenantryModule.forRoot({ tenantry, exclude: ['/healthz'], log: (error) => logged.push(error) })],
          controllers: [ProjectsController, HealthController, GuardedController],
          providers: [ProjectsService, AcmeOnlyGuard],
        })
      })
      after(async () => {
        await app?.close()
      })

      it('gives the handler the request\'s tenant through @CurrentTenant(), frozen, and one of its fields with @CurrentTenant(\'slug\')', async () => {
        const answer = await as('acme', '/api/me')
        assert.equal(answer.status, 200, answer.text)
        assert.deepEqual(answer.body, { slug: 'acme', name: 'ACME', plan: 'free', frozen: true, bySlug: 'acme' })
      })

      it('serves two tenants through the injected Kysely instance and pool, each seeing only its own rows', async () => {
        const suffix = `${platform}-${Date.now()}`
        const created = await as('acme', '/api/projects', { method: 'POST', body: { name: `rocket ${suffix}` } })
        assert.equal(created.status, 201, created.text)
        assert.equal((await as('globex', '/api/projects', { method: 'POST', body: { name: `magnet ${suffix}` } })).status, 201)
        // Concurrent requests of both tenants interleave on the one Kysely instance and pool.
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => {
          const slug = i % 2 === 0 ? 'acme' : 'globex'
          return as(slug, i % 4 < 2 ? '/api/projects' : '/api/projects-by-sql').then((a) => ({ slug, a }))
        }))
        for (const { slug, a } of answers) {
          assert.equal(a.status, 200, a.text)
          const own = a.body.filter((n: string) => n.endsWith(suffix))
          assert.deepEqual(own, [slug === 'acme' ? `rocket ${suffix}` : `magnet ${suffix}`], `${slug} sees ${a.text}`)
        }
        // Another tenant's row looks exactly like no row.
        const foreign = await as('globex', `/api/projects/${created.body.id}`)
        assert.equal(foreign.status, 404, foreign.text)
        assert.deepEqual(foreign.body, { error: { code: 'NOT_FOUND', message: `No project ${created.body.id}` } })
        assert.equal((await as('acme', `/api/projects/${created.body.id}`)).body.name, `rocket ${suffix}`)
      })

      it('answers a TenantryError thrown in a service with its status and body', async () => {
        const name = `twice ${platform}`
        assert.equal((await as('acme', '/api/projects', { method: 'POST', body: { name } })).status, 201)
        const again = await as('acme', '/api/projects', { method: 'POST', body: { name } })
        assert.equal(again.status, 409, again.text)
        assert.deepEqual(again.body, { error: { code: 'CONFLICT', message: `A project named "${name}" exists` } })
        const invalid = await as('acme', '/api/projects', { method: 'POST', body: {} })
        assert.equal(invalid.status, 400, invalid.text)
        assert.deepEqual(invalid.body.error.details, [{ path: 'body.name', message: 'must be a non-empty string' }])
      })

      it('runs guards in the tenant scope; a guard\'s refusal keeps Nest\'s 403', async () => {
        assert.deepEqual((await as('acme', '/api/secret')).body, { secret: 'acme' })
        const refused = await as('globex', '/api/secret')
        assert.equal(refused.status, 403, refused.text)
        assert.equal(refused.body.statusCode, 403)
      })

      it('refuses before the controller: 404 for an unknown tenant, 403 for a suspended one, 401 without a key', async () => {
        const unknown = await call(app.port, { path: '/api/me', host: 'nobody.localhost', headers: bearer(keys.acme!) })
        assert.equal(unknown.status, 404, unknown.text)
        assert.equal(unknown.body.error.code, 'TENANT_NOT_FOUND')
        const suspended = await as('initech', '/api/me')
        assert.equal(suspended.status, 403, suspended.text)
        assert.equal(suspended.body.error.code, 'TENANT_SUSPENDED')
        const anonymous = await call(app.port, { path: '/api/me', host: 'acme.localhost' })
        assert.equal(anonymous.status, 401, anonymous.text)
        assert.equal(anonymous.body.error.code, 'UNAUTHENTICATED')
        assert.match(String(anonymous.headers['www-authenticate']), /^Bearer/)
      })

      it('answers 429 RATE_LIMITED with Retry-After and RateLimit headers past the plan\'s limit, before the controller', async () => {
        // One request per minute on the tiny plan; each platform uses its own tenant.
        const slug = platform === 'express' ? 'hooli' : 'piedpiper'
        const first = await as(slug, '/api/me')
        assert.equal(first.status, 200, first.text)
        assert.ok(first.headers.ratelimit, 'the admitted answer carries the RateLimit header')
        const limited = await as(slug, '/api/projects', { method: 'POST', body: { name: 'never made' } })
        assert.equal(limited.status, 429, limited.text)
        assert.equal(limited.body.error.code, 'RATE_LIMITED')
        assert.match(String(limited.headers['retry-after']), /^\d+$/)
        assert.ok(limited.headers['ratelimit-policy'] && limited.headers.ratelimit)
      })

      it('serves excluded routes with no tenant, and injects the Tenantry object', async () => {
        const answer = await call(app.port, { path: '/healthz', host: 'localhost' })
        assert.equal(answer.status, 200, answer.text)
        assert.deepEqual(answer.body, { ok: true })
      })
    })
  }

  for (const platform of platforms) {
    it(`forRootAsync on ${platform}: the factory's options, with the providers it injects from imported modules`, async () => {
      const SETTINGS = 'APP_SETTINGS'
      class SettingsModule {}
      Module({ providers: [{ provide: SETTINGS, useValue: { healthPath: '/healthz' } }], exports: [SETTINGS] })(SettingsModule)
      const app = await listen(platform, {
        imports: [
          TenantryModule.forRootAsync({
            imports: [SettingsModule],
            inject: [SETTINGS],
            useFactory: async (settings: { healthPath: string }) => ({ tenantry, exclude: [settings.healthPath], log: () => {} }),
          }),
        ],
        controllers: [ProjectsController, HealthController],
        providers: [ProjectsService],
      })
      try {
        assert.deepEqual((await call(app.port, { path: '/healthz', host: 'localhost' })).body, { ok: true })
        const me = await call(app.port, { path: '/api/me', host: 'globex.localhost', headers: bearer(keys.globex!) })
        assert.equal(me.body?.slug, 'globex', me.text)
        const names = await call(app.port, { path: '/api/projects-by-sql', host: 'globex.localhost', headers: bearer(keys.globex!) })
        assert.ok(names.body.every((n: string) => n.startsWith('magnet')), names.text)
      } finally {
        await app.close()
      }
    })
  }

  it('logged the errors it hid, and only those', () => {
    assert.deepEqual(logged, [])
  })
})
