/**
 * The request as resolvers see it: plain data, no framework types, so the same
 * resolvers serve Fastify, Express, Hono or a queue consumer.
 */

/**
 * What a resolver may read from a request. Adapters build it; tests write it by hand.
 *
 * @example
 * const request: TenantRequest = { host: 'acme.localhost:3000', path: '/api/projects', headers: { 'x-tenant-id': 'acme' } }
 */
export interface TenantRequest {
  /** The Host header (or HTTP/2 `:authority`), port included when the client sent one. */
  readonly host?: string
  /** The path without the query string, as received (`/t/acme/api/projects`). */
  readonly path: string
  /** Request headers with lowercase names (Node's `IncomingMessage.headers` fits). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>
  /** The local port the connection arrived on (for `portResolver`). */
  readonly localPort?: number
}

/**
 * What a resolver read: a slug, a tenant id or a custom domain. Looking it up in
 * the directory is the job of `TenantResolution`.
 */
export type TenantIdentifier =
  | { readonly by: 'slug'; readonly slug: string }
  | { readonly by: 'id'; readonly id: string }
  | { readonly by: 'domain'; readonly domain: string }

/**
 * Reads a tenant identifier from a request. `undefined` means "this request does
 * not say" (the next resolver is asked); a thrown TenantryError stops resolution
 * (an invalid bearer token, two different header values).
 *
 * @example
 * const fromQuery: TenantResolver = {
 *   name: 'query',
 *   identify: (request) => undefined,
 * }
 */
export interface TenantResolver {
  /** Short name used in TENANT_MISMATCH details (`subdomain`, `header`, ...). */
  readonly name: string
  identify(request: TenantRequest): TenantIdentifier | undefined | Promise<TenantIdentifier | undefined>
}

/** One header's values; repeated headers arrive as arrays (Node) or comma-joined (fetch). */
export function headerValues(request: TenantRequest, name: string): readonly string[] {
  const value = request.headers[name.toLowerCase()]
  if (value === undefined) return []
  return typeof value === 'string' ? [value] : value
}

/**
 * The host name of a request: lowercase, without port or trailing dot, IPv6
 * literals kept in brackets. Undefined when absent or malformed.
 *
 * @example
 * hostName({ host: 'ACME.localhost:3000', path: '/', headers: {} }) // 'acme.localhost'
 */
export function hostName(request: TenantRequest): string | undefined {
  const raw = request.host?.trim().toLowerCase()
  if (raw === undefined || raw.length === 0 || raw.length > 260) return undefined
  let host: string
  if (raw.startsWith('[')) {
    const end = raw.indexOf(']')
    if (end < 0) return undefined
    host = raw.slice(0, end + 1)
  } else {
    const colon = raw.indexOf(':')
    host = colon < 0 ? raw : raw.slice(0, colon)
  }
  if (host.endsWith('.')) host = host.slice(0, -1)
  return host.length === 0 ? undefined : host
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/

/** True for `127.0.0.1`, `[::1]` and other IP literals, which never name a tenant. */
export function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || IPV4.test(host)
}

/** A stable string for an identifier, for maps and messages. */
export function identifierKey(identifier: TenantIdentifier): string {
  switch (identifier.by) {
    case 'slug':
      return `slug:${identifier.slug}`
    case 'id':
      return `id:${identifier.id}`
    case 'domain':
      return `domain:${identifier.domain}`
  }
}

/** How an identifier reads in an error message: `slug "acme"`. */
export function describeIdentifier(identifier: TenantIdentifier): string {
  switch (identifier.by) {
    case 'slug':
      return `slug ${quote(identifier.slug)}`
    case 'id':
      return `id ${quote(identifier.id)}`
    case 'domain':
      return `domain ${quote(identifier.domain)}`
  }
}

/** A request-supplied value, clipped and JSON-quoted so messages stay short and unambiguous. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
}
