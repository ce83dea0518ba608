/** The Express middleware: resolve, authenticate and admit, then continue the chain in the tenant's scope. */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { createTenantGate, runWithTenant, type Tenant, type TenantHttpOptions, type TenantRequest } from '@tenantry/core'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The resolved tenant on tenant routes; undefined on excluded routes. */
      tenant?: Tenant
      /** What `authenticate` returned (e.g. `{ keyId }`). */
      tenantAuth?: unknown
    }
  }
}

export type TenantryExpressOptions = TenantHttpOptions

/** The full path (a middleware mounted with `app.use('/api', ...)` sees a shortened `req.path`). */
function pathOf(req: Request): string {
  const url = req.originalUrl || req.url
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

function tenantRequestOf(req: Request): TenantRequest {
  // req.hostname honours the app's 'trust proxy' setting (X-Forwarded-Host) like the rest of Express.
  return { host: req.hostname ?? req.headers.host, path: pathOf(req), headers: req.headers, localPort: req.socket?.localPort }
}

/**
 * Express middleware: on every request not under an `exclude` prefix it
 * resolves the tenant, checks the caller (`authenticate`) and admits the request
 * (`admission`: headers set on the response, slot released when the response
 * ends or the client goes away), sets `req.tenant`, then calls `next()` inside
 * `runWithTenant(tenant)`: every later middleware and handler, and everything
 * they await, sees `currentTenant()`. Errors go to `next(error)`: mount
 * `tenantryExpressErrorHandler()` last. Mount it before the routes it guards
 * (or on a router: `app.use('/api', tenantryExpress(options))`), and before
 * any body parser (`express.json()`): a request it refuses (unknown tenant,
 * bad key, over the rate limit) is then answered without its body being read.
 * A tenant the rate limiter already refuses (its local deny list) is refused
 * right after resolution, before authentication. Options are checked when it
 * is created.
 *
 * @example
 * app.use(tenantryExpress({ resolution, authenticate: apiKeyAuthenticator(keys), exclude: ['/healthz'] }))
 * app.use(express.json())
 * app.get('/api/me', (req, res) => res.json({ slug: currentTenant().slug }))
 * app.use(tenantryExpressNotFoundHandler())
 * app.use(tenantryExpressErrorHandler())
 */
export function tenantryExpress(options: TenantryExpressOptions): RequestHandler {
  const gate = createTenantGate(options, 'tenantryExpress')
  return function tenantryMiddleware(req: Request, res: Response, next: NextFunction): void {
    const path = pathOf(req)
    if (gate.excludes(path)) return next()
    const route = { method: req.method, route: path }
    const observed = gate.observe(route)
    // 'close' fires after the response is sent and when the client aborts (then 499).
    if (observed !== undefined) res.once('close', () => observed.end(res.writableFinished ? res.statusCode : 499))
    const tenantRequest = tenantRequestOf(req)
    gate.resolve(tenantRequest).then((tenant) => {
      observed?.setTenant(tenant)
      // A tenant admission already refuses (the rate limiter's local deny list): refused here,
      // before authentication and admission; tenantryExpressErrorHandler sends its prepared 429.
      let refusal
      try {
        refusal = gate.refusal(tenant, route)
      } catch (error) {
        return next(error)
      }
      if (refusal !== undefined) return next(refusal.error())
      // Tied to the response before admission: a client that leaves while its request waits
      // for a bulkhead slot takes it out of the queue ('close' fires when the client aborts).
      const gone = new AbortController()
      const abort = (): void => gone.abort()
      res.once('close', abort)
      if (res.destroyed || res.closed) gone.abort()
      gate.admit(tenantRequest, tenant, { method: route.method, route: route.route, signal: gone.signal }).then(
        (pass) => {
          res.removeListener('close', abort)
          // Answered meanwhile (a timeout middleware, the client gone): nothing more to do here.
          if (res.headersSent) {
            pass.release()
            return
          }
          req.tenant = pass.tenant
          req.tenantAuth = pass.auth
          for (const [name, value] of Object.entries(pass.headers)) res.setHeader(name, value)
          // 'close' fires after the response is sent and when the client aborts.
          res.once('close', pass.release)
          if (res.destroyed || res.closed) pass.release()
          // Express calls the next layers synchronously from next(), so they run in this scope;
          // body-parser (raw-body) re-binds its callback to the scope it was called in.
          if (observed === undefined || !observed.wrapsHandler) runWithTenant(pass.tenant, () => next())
          else runWithTenant(pass.tenant, () => observed.run(() => next()))
        },
        (error: unknown) => {
          res.removeListener('close', abort)
          next(error)
        },
      )
    }, next)
  }
}
