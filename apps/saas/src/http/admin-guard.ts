import { createHash, timingSafeEqual } from 'node:crypto'
import { TenantryError } from '@tenantry/core'
import type { FastifyRequest } from 'fastify'

/** The host name of a Host header: lowercase, without port, IPv6 brackets kept. */
export function hostNameOf(host: string | undefined): string {
  if (host === undefined) return ''
  const lower = host.trim().toLowerCase()
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1)
  const colon = lower.indexOf(':')
  return (colon === -1 ? lower : lower.slice(0, colon)).replace(/\.$/, '')
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/**
 * Guards the admin API: it exists only on the bare host (the base domain,
 * localhost, 127.0.0.1 or [::1]), never on a tenant's host, where it is
 * NOT_FOUND like any unknown route; and it needs `Authorization: Bearer <admin
 * token>`, compared in constant time (both sides hashed first, so neither the
 * content nor the length of the token leaks through timing), else UNAUTHENTICATED.
 *
 * @example
 * const guard = adminGuard({ token, baseDomain: 'localhost' })
 * app.addHook('onRequest', guard)
 */
export function adminGuard(options: { token: string; baseDomain: string }): (request: FastifyRequest) => Promise<void> {
  const bareHosts = new Set([options.baseDomain, 'localhost', '127.0.0.1', '[::1]'])
  const expected = digest(options.token)
  return async function checkAdminRequest(request) {
    if (!bareHosts.has(hostNameOf(request.headers.host))) {
      throw new TenantryError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]} on this host; the admin API is served on the bare host only`)
    }
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim()) : null
    const given = match?.[1]
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      throw new TenantryError('UNAUTHENTICATED', 'Missing or unknown admin token: send Authorization: Bearer <admin token>')
    }
  }
}
