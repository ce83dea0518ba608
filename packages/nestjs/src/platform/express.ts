/** On `@nestjs/platform-express`: a Nest middleware that continues the chain in the tenant's scope. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { runWithTenant, type Tenant, type TenantGate, type TenantRequest } from '@tenantry/core'
import { admitOnResponse, pathOf } from './admit.ts'

/** The Express request fields read here (no dependency on Express's types). */
interface ExpressRequest extends IncomingMessage {
  readonly hostname?: string
  readonly originalUrl?: string
  tenant?: Tenant
  tenantAuth?: unknown
}

function tenantRequestOf(req: ExpressRequest, path: string): TenantRequest {
  // req.hostname honours the app's 'trust proxy' setting (X-Forwarded-Host), as in @tenantry/express.
  return { host: req.hostname ?? req.headers.host, path, headers: req.headers, localPort: req.socket?.localPort }
}

/**
 * The middleware TenantryModule applies to every route on Express, before the
 * body parsers (see `mountBeforeBodyParsers`) and every module's middleware: on a path not under
 * `exclude` it resolves, authenticates and admits, sets `req.tenant` and
 * `req.tenantAuth`, and calls `next()` inside `runWithTenant(tenant)`. Express
 * calls the later layers (Nest's middleware, guards, interceptors, pipes, the
 * handler) from `next()`, so they and everything they await see the tenant.
 * Refusals go to `next(error)`, which Nest hands to the exception filter.
 */
export function expressTenantMiddleware(gate: TenantGate<any>): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return function tenantryNestExpress(incoming, res, next) {
    const req = incoming as ExpressRequest
    // The full path: Nest mounts middleware with a path, which shortens req.url.
    const path = pathOf(req.originalUrl || req.url || '/')
    if (gate.excludes(path)) return next()
    admitOnResponse(gate, tenantRequestOf(req, path), { method: req.method ?? 'GET', route: path }, res).then(
      (pass) => {
        req.tenant = pass.tenant
        req.tenantAuth = pass.auth
        // runWithTenant throws before calling next() when it refuses the tenant (it cannot
        // freeze it); Express's next() itself catches what the later layers throw.
        try {
          runWithTenant(pass.tenant, () => pass.run(() => next()))
        } catch (error) {
          next(error)
        }
      },
      (error: unknown) => next(error),
    )
  }
}

/** The Express application fields read here (no dependency on Express's types). */
export interface ExpressAppLike {
  use(handler: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void): unknown
  readonly router?: { readonly stack?: unknown }
}

/** What Express's body parsers (body-parser, `express.json()` and the like) are named. */
const BODY_PARSERS = new Set(['jsonParser', 'urlencodedParser', 'rawParser', 'textParser'])

/**
 * Mounts `middleware` on the Express app right before its first body parser
 * (Nest registers its JSON and urlencoded parsers before any module's
 * middleware; a parser added in bootstrap with `app.useBodyParser()` or
 * `app.use(express.json())` comes earlier still), so a request the middleware
 * refuses is answered before its body is read. Without a parser, it goes last,
 * where the module's middleware would go. False when the app's router stack
 * cannot be read (not Express 5): the caller mounts it the usual way.
 */
export function mountBeforeBodyParsers(app: ExpressAppLike, middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void): boolean {
  const stack = app.router?.stack
  if (!Array.isArray(stack)) return false
  app.use(middleware)
  const layer: unknown = stack.at(-1)
  if ((layer as { handle?: unknown } | undefined)?.handle !== middleware) return true
  const at = stack.findIndex((l: { handle?: { name?: unknown } } | undefined) => BODY_PARSERS.has(String(l?.handle?.name)))
  if (at >= 0 && at < stack.length - 1) {
    stack.pop()
    stack.splice(at, 0, layer)
  }
  return true
}
