/**
 * The part of a tenant request both platforms share: the gate's pass, tied to
 * the Node.js response (Express's `res`, Fastify's `reply.raw`).
 */
import type { ServerResponse } from 'node:http'
import type { RequestHandle, TenantGate, TenantPass, TenantRequest } from '@tenantry/core'

/** The path without the query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

/**
 * Resolves, authenticates and admits; the admission headers go on `response`,
 * and its slot is given back when the response closes (sent, or the client
 * went away). A client that leaves while the request waits for a bulkhead slot
 * takes it out of the queue. A tenant admission already refuses (the rate
 * limiter's local deny list) is refused right after resolution, before
 * authentication, with its prepared 429. Rejects with the TenantryError to answer.
 * With the gate's `observer`, the request is observed from here until the
 * response closes; `run` runs the handler chain through the observation.
 */
export async function admitOnResponse(
  gate: TenantGate<any>,
  request: TenantRequest,
  route: { readonly method: string; readonly route: string },
  response: ServerResponse,
): Promise<TenantPass<any> & { readonly run: <R>(fn: () => R) => R }> {
  const observed = gate.observe(route)
  // 'close' fires after the response is sent and when the client aborts (then 499).
  if (observed !== undefined) response.once('close', () => observed.end(response.writableFinished ? response.statusCode : 499))
  const tenant: unknown = await gate.resolve(request)
  observed?.setTenant(tenant as never)
  const refusal = gate.refusal(tenant, route)
  if (refusal !== undefined) throw refusal.error()
  // Tied to the response before admission: 'close' fires when the client aborts.
  const gone = new AbortController()
  const abort = (): void => gone.abort()
  response.once('close', abort)
  if (response.destroyed || response.closed) gone.abort()
  let pass: TenantPass<any>
  try {
    pass = await gate.admit(request, tenant, { method: route.method, route: route.route, signal: gone.signal })
  } finally {
    response.removeListener('close', abort)
  }
  for (const [name, value] of Object.entries(pass.headers)) response.setHeader(name, value)
  // 'close' fires after the response is sent and when the client aborts.
  response.once('close', pass.release)
  if (response.destroyed || response.closed) pass.release()
  return { ...pass, run: observed === undefined || !observed.wrapsHandler ? runDirectly : (fn) => (observed as RequestHandle).run(fn) }
}

function runDirectly<R>(fn: () => R): R {
  return fn()
}
