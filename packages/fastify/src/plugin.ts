/** The Fastify plugin: resolve, authenticate and admit each tenant request, then run its handler in the tenant's scope. */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { createTenantGate, isTenantryError, runWithTenant, type RequestHandle, type Tenant, type TenantHttpOptions, type TenantRequest } from '@tenantry/core'
import { tenantryErrorHandler, tenantryNotFoundHandler } from './error-handler.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The resolved tenant on tenant routes; undefined on excluded routes. */
    tenant: Tenant | undefined
    /** What `authenticate` returned (e.g. `{ keyId }`), on tenant routes. */
    tenantAuth: unknown
  }
  interface FastifyContextConfig {
    /** `false`: this route is not a tenant route (no resolution, no tenant scope). */
    tenant?: boolean
  }
}

export interface TenantryFastifyOptions extends TenantHttpOptions {
  /**
   * Install `tenantryErrorHandler` as the app's error handler: every error,
   * Tenantry's and the app's, answers `{error:{code,message}}` with the
   * catalogue's status. Default false: the app's own handler (or Fastify's) is
   * left in place; Tenantry's refusals reach it as TenantryErrors with `status`
   * and `code`, their headers (`Retry-After`, `WWW-Authenticate`) already set.
   */
  readonly errorHandler?: boolean
  /** Install `tenantryNotFoundHandler` as the app's not-found handler. Default false: the app's own is left in place. */
  readonly notFoundHandler?: boolean
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?')
  return q < 0 ? request.url : request.url.slice(0, q)
}

function tenantRequestOf(request: FastifyRequest): TenantRequest {
  return {
    // request.host honours trustProxy (X-Forwarded-Host) exactly as the app configured it.
    host: request.host,
    path: pathOf(request),
    headers: request.headers,
    localPort: request.socket?.localPort,
  }
}

function isTenantRoute(request: FastifyRequest, excludes: (path: string) => boolean): boolean {
  if (request.is404) return false
  if (request.routeOptions.config?.tenant === false) return false
  // Match the route pattern the router chose, not the raw path: `/:org/projects` serving
  // `/admin/projects` stays a tenant route, so exclusion can only ever follow the routes.
  return !excludes(request.routeOptions.url ?? pathOf(request))
}

/**
 * What happens when a tenant request's response closes (sent, or the client
 * went away), with one 'close' listener per request: its observation ends
 * (499 when the client left first), a wait for a bulkhead slot is given up,
 * and a slot it holds is released, each once.
 */
class ResponseClose {
  #listening = false
  #closed = false
  #waiting: AbortController | undefined
  #release: (() => void) | undefined

  constructor(
    readonly raw: FastifyReply['raw'],
    readonly observed: RequestHandle | undefined,
  ) {
    if (observed !== undefined) {
      this.#listen()
      // Closed before this hook ran (an earlier hook let the client go): 'close' will not come again.
      if (raw.closed) this.#close()
    }
  }

  /** True once the response is closed (or closing: destroyed). */
  get gone(): boolean {
    return this.#closed || this.raw.destroyed || this.raw.closed
  }

  /** A wait for admission: aborted when the client goes away (at once if it already has). */
  waiting(): AbortSignal {
    const controller = new AbortController()
    this.#listen()
    this.#waiting = controller
    if (this.gone) controller.abort()
    return controller.signal
  }

  /** Admission ended; `release` (a slot held) runs when the response closes, at once if it already has. */
  admitted(release?: () => void): void {
    this.#waiting = undefined
    if (release === undefined) return
    if (this.gone) return release()
    this.#release = release
  }

  #listen(): void {
    if (this.#listening) return
    this.#listening = true
    this.raw.on('close', () => this.#close())
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    this.observed?.end(this.raw.writableFinished ? this.raw.statusCode : 499)
    const waiting = this.#waiting
    const release = this.#release
    this.#waiting = undefined
    this.#release = undefined
    waiting?.abort()
    release?.()
  }
}

/** Where a request's observation is kept between hooks. */
const OBSERVED = Symbol('tenantry.observed')
type ObservedFastifyRequest = FastifyRequest & { [OBSERVED]?: RequestHandle }

/**
 * Fastify plugin (applies app-wide): on every tenant route it resolves the
 * tenant (`resolution`), checks the caller (`authenticate`), admits the request
 * (`admission`: its headers go on the response, its slot is released when the
 * response ends or the client goes away), sets `request.tenant`, and runs the
 * handler inside `runWithTenant(tenant)` so `currentTenant()` works in the
 * handler and in everything it awaits. Routes under `exclude` prefixes, or with
 * `config: { tenant: false }`, and unknown routes run with no tenant. The app's
 * error and not-found handlers stay the app's unless `errorHandler: true` /
 * `notFoundHandler: true` ask the plugin to install Tenantry's. Options are
 * checked at register time.
 *
 * @example
 * await app.register(tenantryFastify, {
 *   resolution,
 *   authenticate: apiKeyAuthenticator(new CachedApiKeyVerifier(catalog)),
 *   exclude: ['/admin', '/healthz'],
 *   errorHandler: true,      // optional: every error in Tenantry's JSON shape
 * })
 * app.get('/api/me', async () => ({ slug: currentTenant().slug }))
 */
export const tenantryFastify: FastifyPluginAsync<TenantryFastifyOptions> = async function tenantryFastify(app, options) {
  const gate = createTenantGate(options, 'tenantryFastify')
  app.decorateRequest('tenant', undefined)
  app.decorateRequest('tenantAuth', undefined)
  // A declared slot, so an observed request keeps Fastify's request shape.
  if (options.observer !== undefined) app.decorateRequest(OBSERVED as unknown as string, undefined)
  if (options.errorHandler === true) app.setErrorHandler(tenantryErrorHandler)
  if (options.notFoundHandler === true) app.setNotFoundHandler(tenantryNotFoundHandler)

  // onRequest: refuse before the body is read (an unknown tenant or key costs no parsing), and
  // a tenant admission already refuses (the rate limiter's local deny list) before anything else:
  // no authentication, no bulkhead, no abort signal; its prepared 429 goes to the error handler.
  app.addHook('onRequest', function resolveTenant(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) {
    if (!isTenantRoute(request, gate.excludes)) return done()
    const route = { method: request.method, route: request.routeOptions.url ?? pathOf(request) }
    const observed = gate.observe(route)
    if (observed !== undefined) (request as ObservedFastifyRequest)[OBSERVED] = observed
    const close = new ResponseClose(reply.raw, observed)
    const tenantRequest = tenantRequestOf(request)
    const refuse = (error: Error): void => {
      // Whatever handler answers, the refusal's headers (Retry-After, WWW-Authenticate) go with it.
      if (isTenantryError(error) && Object.keys(error.headers).length > 0) void reply.headers(error.headers)
      done(error)
    }
    gate.resolve(tenantRequest).then((tenant) => {
      observed?.setTenant(tenant)
      let refusal
      try {
        refusal = gate.refusal(tenant, route)
      } catch (error) {
        return refuse(error as Error)
      }
      if (refusal !== undefined) return refuse(refusal.error())
      // Tied to the response before admission: a client that leaves while its request waits
      // for a bulkhead slot takes it out of the queue.
      gate.admit(tenantRequest, tenant, { method: route.method, route: route.route, signal: close.waiting() }).then(
        (pass) => {
          // Released when the response is sent or the client goes away.
          close.admitted(pass.release)
          request.tenant = pass.tenant
          request.tenantAuth = pass.auth
          if (Object.keys(pass.headers).length > 0) void reply.headers(pass.headers)
          done()
        },
        (error: Error) => {
          close.admitted()
          refuse(error)
        },
      )
    }, refuse)
  })

  // preHandler: body parsing (stream events) would drop an async context entered in
  // onRequest, so the scope is entered here, and the rest of the chain (later
  // preHandlers, the handler, whatever it awaits) is called from inside it.
  app.addHook('preHandler', function enterTenantScope(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) {
    const tenant = request.tenant
    if (tenant === undefined) return done()
    const observed = (request as ObservedFastifyRequest)[OBSERVED]
    if (observed === undefined || !observed.wrapsHandler) runWithTenant(tenant, done)
    else runWithTenant(tenant, () => observed.run(done))
  })
}

// Like fastify-plugin: no encapsulation, so the hooks and decorators apply to the whole app.
;(tenantryFastify as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true
;(tenantryFastify as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'tenantry'
