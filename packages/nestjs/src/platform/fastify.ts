/** On `@nestjs/platform-fastify`: Fastify hooks, as `@tenantry/fastify` installs them. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TenantryError, runWithTenant, type Tenant, type TenantGate, type TenantRequest } from '@tenantry/core'
import { admitOnResponse, pathOf } from './admit.ts'

/** The Fastify request fields read here (no dependency on Fastify's types). */
interface FastifyRequestLike {
  readonly host: string
  readonly url: string
  readonly method: string
  readonly headers: TenantRequest['headers']
  readonly socket?: { readonly localPort?: number }
  readonly is404?: boolean
  readonly routeOptions: { readonly url?: string; readonly config?: { readonly tenant?: boolean } }
  readonly raw: IncomingMessage
  tenant: Tenant | undefined
  tenantAuth: unknown
}

interface FastifyReplyLike {
  readonly raw: ServerResponse
}

type Done = (error?: Error) => void

/** The Fastify instance methods used here. */
export interface FastifyInstanceLike {
  hasRequestDecorator(name: string): boolean
  decorateRequest(name: string, value: unknown): unknown
  addHook(name: 'onRequest' | 'preHandler', hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: Done) => void): unknown
}

function isTenantRoute(request: FastifyRequestLike, excludes: (path: string) => boolean): boolean {
  if (request.is404 === true) return false
  // `@RouteConfig({ tenant: false })` from @nestjs/platform-fastify opts a route out, as `config: { tenant: false }` does in Fastify.
  if (request.routeOptions.config?.tenant === false) return false
  // The route pattern the router chose, not the raw path: `/:org/projects` serving
  // `/admin/projects` stays a tenant route, so exclusion follows the routes.
  return !excludes(request.routeOptions.url ?? pathOf(request.url))
}

/**
 * Adds TenantryModule's hooks to the Fastify instance, app-wide: `onRequest`
 * resolves, authenticates and admits every tenant route (before the body is
 * read: an unknown tenant or key costs no parsing), and `preHandler` calls the
 * rest of the chain (Nest's guards, interceptors, pipes, the handler) inside
 * `runWithTenant(tenant)`. Unknown routes, routes under `exclude` and routes
 * with `@RouteConfig({ tenant: false })` run with no tenant. Refusals go to
 * `done(error)`, which Nest hands to the exception filter.
 */
export function addFastifyTenantHooks(app: FastifyInstanceLike, gate: TenantGate<any>): void {
  if (app.hasRequestDecorator('tenant')) {
    throw new TenantryError(
      'VALIDATION_FAILED',
      'TenantryModule: this Fastify instance already resolves tenants (is @tenantry/fastify registered too?); use one of the two',
      { details: [{ path: 'fastify', message: 'request.tenant is already decorated' }] },
    )
  }
  app.decorateRequest('tenant', undefined)
  app.decorateRequest('tenantAuth', undefined)

  app.addHook('onRequest', function resolveTenant(request, reply, done) {
    if (!isTenantRoute(request, gate.excludes)) return done()
    const path = pathOf(request.url)
    const tenantRequest: TenantRequest = {
      // request.host honours trustProxy (X-Forwarded-Host) exactly as the app configured it.
      host: request.host,
      path,
      headers: request.headers,
      localPort: request.socket?.localPort,
    }
    admitOnResponse(gate, tenantRequest, { method: request.method, route: request.routeOptions.url ?? path }, reply.raw).then(
      (pass) => {
        request.tenant = pass.tenant
        request.tenantAuth = pass.auth
        ;(request as { tenantryRun?: <R>(fn: () => R) => R }).tenantryRun = pass.run
        done()
      },
      (error: Error) => done(error),
    )
  })

  // Entered in preHandler, after body parsing, and the rest of the chain is called from inside it.
  app.addHook('preHandler', function enterTenantScope(request, _reply, done) {
    const tenant = request.tenant
    if (tenant === undefined) return done()
    const run = (request as { tenantryRun?: <R>(fn: () => R) => R }).tenantryRun
    runWithTenant(tenant, run === undefined ? done : () => run(done))
  })
}
