/**
 * TenantryModule's own behaviour on both platforms, on the in-memory contract
 * fixture (no database): options checked at start, the exception filter's
 * mapping of Nest's HttpExceptions and of TenantryErrors, exclusions, the
 * scope across a body that arrives late, Nest middleware and interceptors,
 * the stand-in for a handle never given, shutdown, and a context without HTTP.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import {
  BadRequestException, ConflictException, Controller, Get, Inject, Injectable, Module, NotFoundException, Post, Body, ServiceUnavailableException,
  UnauthorizedException, UseInterceptors, type CallHandler, type MiddlewareConsumer, type NestInterceptor,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter, RouteConfig } from '@nestjs/platform-fastify'
import { TenantryError, isTenantryError, runWithTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { call, memoryFixture, type ContractFixture, type HttpAnswer } from '@tenantry/test-kit'
import { map, type Observable } from 'rxjs'
import { TENANTRY, TENANTRY_DB, TENANTRY_POOL, TenantryModule, type TenantryModuleRootOptions } from '../src/index.ts'
import { constructorParameter, method, parameter } from './support/decorate.ts'
import { listen, platforms } from './support/nest-app.ts'

const isValidation = (path: string) => (error: unknown): boolean =>
  isTenantryError(error, 'VALIDATION_FAILED') && Array.isArray(error.details) && (error.details as { path: string }[])[0]?.path === path

class ErrorsController {
  notFound(): never { throw new NotFoundException('Project 7 is gone') }
  invalid(): never { throw new BadRequestException(['name must be a string', 'size must be positive']) }
  unauthorized(): never { throw new UnauthorizedException() }
  conflict(): never { throw new ConflictException('Taken') }
  unavailable(): never { throw new ServiceUnavailableException('primary 10.0.0.5 is down') }
  refused(): never { throw new TenantryError('QUERY_REFUSED', 'select * from secret_table') }
  databaseDown(): never { throw new TenantryError('TENANT_DATABASE_UNAVAILABLE', 'host 10.0.0.5 refused the connection') }
  overloaded(): never { throw new TenantryError('OVERLOADED', 'The tenant is busy', { headers: { 'Retry-After': '3' } }) }
  boom(): never { throw new Error('relation "secret_table" does not exist') }
}
Controller('api/errors')(ErrorsController)
for (const [key, path] of Object.entries({
  notFound: 'not-found', invalid: 'invalid', unauthorized: 'unauthorized', conflict: 'conflict', unavailable: 'unavailable',
  refused: 'refused', databaseDown: 'database-down', overloaded: 'overloaded', boom: 'boom',
})) method(ErrorsController, key, Get(path))

/** Records the tenant an interceptor sees before the handler and adds it to the answer. */
class TenantStampInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    const before = tryCurrentTenant()?.slug ?? null
    return next.handle().pipe(map((body) => ({ ...(body as object), interceptor: before })))
  }
}
Injectable()(TenantStampInterceptor)

/** What a Nest middleware of the app saw, per request id. */
const middlewareSaw = new Map<string, string | null>()

class ScopeController {
  echo(body: unknown) {
    return { slug: tryCurrentTenant()?.slug ?? null, body }
  }
  seen() {
    return { slug: tryCurrentTenant()?.slug ?? null }
  }
  open() {
    return { tenant: tryCurrentTenant()?.slug ?? null }
  }
}
Controller()(ScopeController)
method(ScopeController, 'echo', Post('api/echo'))
parameter(ScopeController, 'echo', 0, Body())
method(ScopeController, 'seen', Get('api/seen'), UseInterceptors(TenantStampInterceptor))
method(ScopeController, 'open', Get(['healthz', 'healthzx', 'admin/ping', 'api/open']), RouteConfig({ tenant: false }))

class AppModuleWithMiddleware {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply((req: http.IncomingMessage, _res: unknown, next: () => void) => {
      const id = req.headers['x-request-id']
      if (typeof id === 'string') middlewareSaw.set(id, tryCurrentTenant()?.slug ?? null)
      next()
    }).forRoutes('api/seen')
  }
}
Module({})(AppModuleWithMiddleware)

/** A POST whose body arrives 100 ms after its headers, in two parts. */
function latePost(port: number, path: string, headers: Record<string, string>, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path, agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: text ? JSON.parse(text) : undefined })
      })
    })
    req.on('error', reject)
    req.flushHeaders()
    setTimeout(() => req.write(body.slice(0, 4)), 50)
    setTimeout(() => req.end(body.slice(4)), 100)
  })
}

describe('TenantryModule options', () => {
  let options: ContractFixture['options']
  before(async () => {
    options = (await memoryFixture()).options
  })

  it('refuses bad options in forRoot() with VALIDATION_FAILED naming the option', () => {
    const cases: [unknown, string][] = [
      [undefined, ''],
      [{ tenantry: undefined }, 'tenantry'],
      [{ tenantry: {} }, 'tenantry.http'],
      [{ http: 'yes' }, 'http'],
      [{ http: {} }, 'resolution'],
      [{ http: { ...options, authenticate: 'key' } }, 'authenticate'],
      [{ http: options, exclude: ['/'] }, 'exclude'],
      [{ http: options, exclude: '/healthz' }, 'exclude'],
      [{ http: { ...options, exclude: '/healthz' } }, 'http.exclude'],
      [{ http: options, log: 'console' }, 'log'],
      [{ http: options, closeOnShutdown: true }, 'closeOnShutdown'],
      [{ http: options, exceptionFilter: 'no' }, 'exceptionFilter'],
    ]
    for (const [bad, path] of cases) {
      assert.throws(() => TenantryModule.forRoot(bad as TenantryModuleRootOptions), isValidation(path), JSON.stringify(bad))
    }
  })

  it('refuses forRootAsync() without a factory at once, and a factory\'s bad options when the app starts', async () => {
    assert.throws(() => TenantryModule.forRootAsync({} as never), isValidation('useFactory'))
    class BadModule {}
    Module({ imports: [TenantryModule.forRootAsync({ useFactory: async () => ({ http: { resolution: {} } }) as never })] })(BadModule)
    await assert.rejects(NestFactory.create(BadModule, new ExpressAdapter(), { logger: false, abortOnError: false }), isValidation('resolution'))
  })
})

for (const platform of platforms) {
  describe(`TenantryModule on ${platform}`, () => {
    let fixture: ContractFixture
    let port: number
    let close: () => Promise<void>
    const logged: unknown[] = []
    const acme = () => ({ host: 'acme.localhost', headers: { authorization: `Bearer ${fixture.acme.key}` } })
    const get = (path: string) => call(port, { path, ...acme() })

    before(async () => {
      fixture = await memoryFixture()
      const app = await listen(platform, {
        imports: [TenantryModule.forRoot({ http: { ...fixture.options, exclude: ['/admin'] }, exclude: ['/healthz'], log: (error) => logged.push(error) }), AppModuleWithMiddleware],
        controllers: [ErrorsController, ScopeController],
        providers: [TenantStampInterceptor],
      })
      ;({ port, close } = app)
    })
    after(async () => {
      await close?.()
    })

    it('answers no route as every adapter does: 404 NOT_FOUND "No route GET /path"', async () => {
      const answer = await get('/api/nothing-here?x=1')
      assert.equal(answer.status, 404, answer.text)
      assert.deepEqual(answer.body, { error: { code: 'NOT_FOUND', message: 'No route GET /api/nothing-here' } })
    })

    it('maps the HttpExceptions the catalogue names, keeping their messages', async () => {
      assert.deepEqual(await get('/api/errors/not-found').then((a) => [a.status, a.body]), [404, { error: { code: 'NOT_FOUND', message: 'Project 7 is gone' } }])
      assert.deepEqual(await get('/api/errors/unauthorized').then((a) => [a.status, a.body.error.code]), [401, 'UNAUTHENTICATED'])
      const invalid = await get('/api/errors/invalid')
      assert.equal(invalid.status, 400, invalid.text)
      assert.deepEqual(invalid.body, {
        error: {
          code: 'VALIDATION_FAILED',
          message: 'Invalid input: name must be a string; size must be positive',
          details: [{ path: 'request', message: 'name must be a string' }, { path: 'request', message: 'size must be positive' }],
        },
      })
    })

    it('answers malformed JSON with 400 VALIDATION_FAILED whose details point at the body', async () => {
      const answer = await call(port, { method: 'POST', path: '/api/echo', ...acme(), body: '{"name": ' })
      assert.equal(answer.status, 400, answer.text)
      assert.equal(answer.body.error.code, 'VALIDATION_FAILED')
      assert.equal(answer.body.error.details[0].path, 'body')
    })

    it('leaves a 4xx the catalogue has no code for as the app\'s own answer', async () => {
      const answer = await get('/api/errors/conflict')
      assert.equal(answer.status, 409, answer.text)
      assert.deepEqual(answer.body, { statusCode: 409, message: 'Taken', error: 'Conflict' })
    })

    it('answers TenantryErrors by their exposure: headers kept, generic messages, internal ones as 500', async () => {
      const overloaded = await get('/api/errors/overloaded')
      assert.deepEqual([overloaded.status, overloaded.body.error.code, overloaded.headers['retry-after']], [503, 'OVERLOADED', '3'])
      const down = await get('/api/errors/database-down')
      assert.equal(down.status, 503, down.text)
      assert.deepEqual(down.body, { error: { code: 'TENANT_DATABASE_UNAVAILABLE', message: "The tenant's database is unavailable; retry later" } })
      const refused = await get('/api/errors/refused')
      assert.equal(refused.status, 500, refused.text)
      assert.deepEqual(refused.body, { error: { code: 'INTERNAL', message: 'Internal server error; the error was logged' } })
    })

    it('answers 5xx HttpExceptions and unknown errors with 500 INTERNAL, hiding and logging them', async () => {
      logged.length = 0
      for (const path of ['/api/errors/unavailable', '/api/errors/boom']) {
        const answer = await get(path)
        assert.equal(answer.status, 500, answer.text)
        assert.equal(answer.body.error.code, 'INTERNAL')
        assert.doesNotMatch(answer.text, /10\.0\.0\.5|secret_table/)
      }
      assert.deepEqual(logged.map((e) => (e as Error).message), ['primary 10.0.0.5 is down', 'relation "secret_table" does not exist'])
    })

    it('excludes the module\'s prefixes and http.exclude\'s, per path segment', async () => {
      for (const path of ['/healthz', '/admin/ping']) assert.deepEqual((await call(port, { path, host: 'localhost' })).body, { tenant: null }, path)
      const notExcluded = await call(port, { path: '/healthzx', host: 'localhost' })
      if (platform === 'express') assert.equal(notExcluded.body?.error?.code, 'TENANT_NOT_IDENTIFIED', notExcluded.text)
      // On Fastify, @RouteConfig({ tenant: false }) opts the route out, as `config: { tenant: false }` does.
      else assert.deepEqual(notExcluded.body, { tenant: null })
    })

    it('keeps the tenant scope when the JSON body arrives after the headers', async () => {
      const answers = await Promise.all([fixture.acme, fixture.globex].map((t) =>
        latePost(port, '/api/echo', { host: `${t.slug}.localhost`, authorization: `Bearer ${t.key}` }, JSON.stringify({ from: t.slug }))))
      assert.deepEqual(answers.map((a) => a.body), [{ slug: 'acme', body: { from: 'acme' } }, { slug: 'globex', body: { from: 'globex' } }])
    })

    it(platform === 'express'
      ? 'runs interceptors in the tenant scope; the app\'s Nest middleware runs after resolution and sees the tenant'
      : 'runs interceptors in the tenant scope; the app\'s Nest middleware (middie) runs before resolution and sees none', async () => {
      const id = `${platform}-${Math.random()}`
      const answer = await call(port, { path: '/api/seen', host: 'acme.localhost', headers: { ...acme().headers, 'x-request-id': id } })
      assert.deepEqual(answer.body, { slug: 'acme', interceptor: 'acme' })
      assert.equal(middlewareSaw.get(id), platform === 'express' ? 'acme' : null)
    })
  })

  describe(`TenantryModule on ${platform}: handles, filter and shutdown`, () => {
    let options: TenantHttpOptions
    before(async () => {
      options = { ...(await memoryFixture()).options }
    })

    it('starts without a pool, and a handler using the injected pool gets 500 INTERNAL with the reason logged', async () => {
      const db = { marker: 'my kysely' }
      class HandlesController {
        constructor(private readonly db: { marker: string }, private readonly pool: { query(sql: string): Promise<unknown> }) {}
        db_() { return { db: this.db.marker } }
        pool_() { return this.pool.query('select 1') }
      }
      Controller('api')(HandlesController)
      constructorParameter(HandlesController, 0, Inject(TENANTRY_DB))
      constructorParameter(HandlesController, 1, Inject(TENANTRY_POOL))
      method(HandlesController, 'db_', Get('db'))
      method(HandlesController, 'pool_', Get('pool'))
      const logged: unknown[] = []
      const fixture = await memoryFixture()
      const app = await listen(platform, { imports: [TenantryModule.forRoot({ http: fixture.options, db, log: (e) => logged.push(e) })], controllers: [HandlesController] })
      try {
        const headers = { authorization: `Bearer ${fixture.acme.key}` }
        assert.deepEqual((await call(app.port, { path: '/api/db', host: 'acme.localhost', headers })).body, { db: 'my kysely' })
        const answer = await call(app.port, { path: '/api/pool', host: 'acme.localhost', headers })
        assert.equal(answer.status, 500, answer.text)
        assert.equal(answer.body.error.code, 'INTERNAL')
        assert.equal(logged.length, 1)
        assert.ok(isTenantryError(logged[0], 'INTERNAL') && /TENANTRY_POOL.*no `pool`/.test(logged[0].message), String(logged[0]))
      } finally {
        await app.close()
      }
    })

    it('with exceptionFilter: false registers no filter: Nest\'s own answers', async () => {
      const app = await listen(platform, { imports: [TenantryModule.forRoot({ http: options, exceptionFilter: false })], controllers: [ScopeController] })
      try {
        const answer = await call(app.port, { path: '/api/seen', host: 'nobody.localhost' })
        assert.equal(answer.status, 500, answer.text)
        assert.equal(answer.body.statusCode, 500)
        assert.equal(answer.body.error, undefined)
      } finally {
        await app.close()
      }
    })

    it('closes the Tenantry on shutdown only when closeOnShutdown is set', async () => {
      let closed = 0
      const source = { http: options, close: async () => void closed++ }
      for (const closeOnShutdown of [false, true]) {
        const app = await listen(platform, { imports: [TenantryModule.forRoot({ tenantry: source, closeOnShutdown })] })
        await app.close()
      }
      assert.equal(closed, 1)
    })
  })
}

describe('TenantryModule beside other tenant resolution, and without HTTP', () => {
  it('refuses to start on a Fastify instance that already resolves tenants', async () => {
    const adapter = new FastifyAdapter()
    adapter.getInstance().decorateRequest('tenant', undefined)
    class AppModule {}
    Module({ imports: [TenantryModule.forRoot({ http: (await memoryFixture()).options })] })(AppModule)
    const app = await NestFactory.create(AppModule, adapter, { logger: false, abortOnError: false })
    await assert.rejects(app.init(), isValidation('fastify'))
    await app.close()
  })

  it('provides the Tenantry and its handles in an application context (a worker), where the code enters the scope itself', async () => {
    const db = { query: async () => tryCurrentTenant()?.slug }
    const source = { http: (await memoryFixture()).options, db }
    class WorkerModule {}
    Module({ imports: [TenantryModule.forRoot({ tenantry: source })] })(WorkerModule)
    const context = await NestFactory.createApplicationContext(WorkerModule, { logger: false })
    try {
      assert.equal(context.get(TENANTRY), source)
      const injected = context.get<typeof db>(TENANTRY_DB)
      const tenant = { id: '7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10', slug: 'acme', status: 'active' as const }
      assert.equal(await runWithTenant(tenant, () => injected.query()), 'acme')
    } finally {
      await context.close()
    }
  })
})
