/** The Hono middleware: resolve, authenticate and admit, then run the rest of the chain in the tenant's scope. */
import type { Context, MiddlewareHandler, Next } from 'hono'
import { createTenantGate, isTenantryError, runWithTenant, type RequestHandle, type Tenant, type TenantHttpOptions, type TenantRequest } from '@tenantry/core'

/** Variables the middleware sets: `c.get('tenant')`, `c.get('tenantAuth')`. */
export interface TenantryHonoVariables {
  tenant: Tenant
  tenantAuth: unknown
}

/** Use as the app's Env (or merge into yours) to type `c.get('tenant')`. */
export interface TenantryHonoEnv {
  Variables: TenantryHonoVariables
}

export type TenantryHonoOptions = TenantHttpOptions

/** What @hono/node-server puts in `c.env`; other runtimes have none of it. */
interface NodeBindings {
  readonly incoming?: { readonly headers?: TenantRequest['headers']; readonly socket?: { readonly localPort?: number } }
  readonly outgoing?: {
    once?(event: 'close', listener: () => void): unknown
    removeListener?(event: 'close', listener: () => void): unknown
    readonly destroyed?: boolean
    readonly closed?: boolean
  }
}

function tenantRequestOf(c: Context, bindings: NodeBindings | undefined): TenantRequest {
  const headers = bindings?.incoming?.headers ?? Object.fromEntries(c.req.raw.headers)
  // Fetch-style requests may carry no Host header; their URL has the host then.
  const host = c.req.header('host') ?? new URL(c.req.url).host
  return { host, path: c.req.path, headers, localPort: bindings?.incoming?.socket?.localPort }
}

/**
 * Hono middleware: on every request not under an `exclude` prefix it resolves
 * the tenant, checks the caller (`authenticate`) and admits the request
 * (`admission`: headers set on the response, slot released when the response is
 * done — on Node when the socket response closes, elsewhere when the handler
 * returns), sets `c.get('tenant')`, and awaits `next()` inside
 * `runWithTenant(tenant)`, so handlers see `currentTenant()`. Errors go to
 * `app.onError`: install `tenantryHonoErrorHandler`. Hono reads no body until
 * a handler asks (`c.req.json()`), so a request refused here is answered
 * without its body being read, as long as no middleware before it reads one.
 * A tenant the rate limiter already refuses (its local deny list) is refused
 * right after resolution, before authentication. Options are checked when it
 * is created.
 *
 * @example
 * const app = new Hono<TenantryHonoEnv>()
 * app.onError(tenantryHonoErrorHandler)
 * app.notFound(tenantryHonoNotFoundHandler)
 * app.use(tenantryHono({ resolution, authenticate: apiKeyAuthenticator(keys), exclude: ['/healthz'] }))
 * app.get('/api/me', (c) => c.json({ slug: currentTenant().slug }))
 */
export function tenantryHono(options: TenantryHonoOptions): MiddlewareHandler<TenantryHonoEnv> {
  const gate = createTenantGate(options, 'tenantryHono')
  return async function tenantryMiddleware(c, next) {
    const path = c.req.path
    if (gate.excludes(path)) return next()
    const bindings = c.env as NodeBindings | undefined
    const route = { method: c.req.method, route: path }
    const observed = gate.observe(route)
    if (observed === undefined) return admitted(c, next, bindings, route)
    let status = 500
    try {
      await admitted(c, next, bindings, route, observed)
      status = c.res.status
    } catch (error) {
      // Thrown to app.onError: the status its Tenantry handler will send.
      status = isTenantryError(error) ? error.status : 500
      throw error
    } finally {
      // On Node, a client that went away before the answer is a 499, whatever the handler made of it.
      observed.end(bindings?.outgoing?.destroyed === true ? 499 : status)
    }
  }

  async function admitted(c: Context<TenantryHonoEnv>, next: Next, bindings: NodeBindings | undefined, route: { method: string; route: string }, observed?: RequestHandle): Promise<void> {
    const tenantRequest = tenantRequestOf(c, bindings)
    const tenant = await gate.resolve(tenantRequest)
    observed?.setTenant(tenant)
    // A tenant admission already refuses (the rate limiter's local deny list): refused here,
    // before authentication and admission; tenantryHonoErrorHandler sends its prepared 429.
    const refusal = gate.refusal(tenant, route)
    if (refusal !== undefined) throw refusal.error()
    const outgoing = bindings?.outgoing
    const releaseOnClose = typeof outgoing?.once === 'function'
    // Tied to the response before admission: a client that leaves while its request waits
    // for a bulkhead slot takes it out of the queue. On Node the socket response's 'close'
    // tells; elsewhere the Fetch request's own signal does.
    let signal: AbortSignal | undefined
    let abort: (() => void) | undefined
    if (releaseOnClose) {
      const gone = new AbortController()
      abort = () => gone.abort()
      outgoing.once!('close', abort)
      if (outgoing.destroyed === true || outgoing.closed === true) gone.abort()
      signal = gone.signal
    } else {
      signal = (c.req.raw as { signal?: AbortSignal }).signal
    }
    let pass
    try {
      pass = await gate.admit(tenantRequest, tenant, signal === undefined ? route : { method: route.method, route: route.route, signal })
    } finally {
      if (abort !== undefined) outgoing?.removeListener?.('close', abort)
    }
    c.set('tenant', pass.tenant)
    c.set('tenantAuth', pass.auth)
    if (releaseOnClose) {
      outgoing.once!('close', pass.release)
      if (outgoing.destroyed === true || outgoing.closed === true) pass.release()
    }
    try {
      await runWithTenant(pass.tenant, () => (observed === undefined || !observed.wrapsHandler ? next() : observed.run(() => next())))
    } finally {
      if (!releaseOnClose) pass.release()
    }
    // After next(): Hono has the final response (the handler's, or onError's) by now.
    for (const [name, value] of Object.entries(pass.headers)) c.header(name, value)
  }
}
