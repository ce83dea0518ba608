/** Resolvers that read the tenant from what the client sent: a header or the path. */
import { TenantryError } from '../errors/index.ts'
import { isUuid } from '../tenant/identifiers.ts'
import { headerValues, quote, type TenantIdentifier, type TenantResolver } from './request.ts'

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/

/** A slug, or an id when the value is a UUID. Validity is checked at lookup (TENANT_NOT_FOUND). */
export function slugOrId(value: string): TenantIdentifier {
  const lower = value.toLowerCase()
  return isUuid(lower) ? { by: 'id', id: lower } : { by: 'slug', slug: lower }
}

export interface HeaderResolverOptions {
  /** Header name, case-insensitive; default `x-tenant-id`. */
  readonly header?: string
}

/**
 * Reads the tenant from a header: a slug, or a tenant id when the value is a
 * UUID. An empty header says nothing; two different values of the header are
 * TENANT_MISMATCH; a value that cannot be a slug is looked up anyway and ends as
 * TENANT_NOT_FOUND.
 *
 * @example
 * const byHeader = headerResolver() // X-Tenant-ID: acme
 * byHeader.identify({ path: '/', headers: { 'x-tenant-id': 'acme' } }) // { by: 'slug', slug: 'acme' }
 */
export function headerResolver({ header = 'x-tenant-id' }: HeaderResolverOptions = {}): TenantResolver {
  const name = typeof header === 'string' ? header.toLowerCase() : ''
  if (!HEADER_NAME.test(name)) {
    throw new TenantryError('VALIDATION_FAILED', 'headerResolver: header must be an HTTP header name such as "x-tenant-id"', {
      details: [{ path: 'header', message: 'must be a header name' }],
    })
  }
  return {
    name: 'header',
    identify(request) {
      // Node joins nothing for custom headers; fetch-style Headers join repeats with ", ".
      const values = [...new Set(headerValues(request, name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0))]
      if (values.length === 0) return undefined
      if (values.length > 1) {
        throw new TenantryError('TENANT_MISMATCH', `The ${name} header names more than one tenant (${values.slice(0, 3).map(quote).join(', ')})`, {
          details: [{ path: `headers.${name}`, message: 'must name exactly one tenant' }],
        })
      }
      return slugOrId(values[0] as string)
    },
  }
}

export interface PathResolverOptions {
  /** The path prefix before the slug; default `/t/`, so `/t/acme/api/projects` is acme. */
  readonly prefix?: string
}

/**
 * Reads the slug (or id) from the path segment after `prefix`:
 * `/t/acme/api/projects` -> slug `acme`. Paths without the prefix say nothing.
 * Routes keep the prefix (`/t/:tenant/api/projects`); nothing is rewritten.
 *
 * @example
 * const byPath = pathResolver({ prefix: '/t/' })
 * byPath.identify({ path: '/t/acme/api/projects', headers: {} }) // { by: 'slug', slug: 'acme' }
 */
export function pathResolver({ prefix = '/t/' }: PathResolverOptions = {}): TenantResolver {
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
    throw new TenantryError('VALIDATION_FAILED', 'pathResolver: prefix must be a path starting with "/", such as "/t/"', {
      details: [{ path: 'prefix', message: 'must start with "/"' }],
    })
  }
  const start = prefix.endsWith('/') ? prefix : `${prefix}/`
  return {
    name: 'path',
    identify(request) {
      const path = request.path
      if (!path.startsWith(start)) return undefined
      const rest = path.slice(start.length)
      const end = rest.search(/[/?#]/)
      let segment = end < 0 ? rest : rest.slice(0, end)
      try {
        segment = decodeURIComponent(segment)
      } catch {
        // A broken escape can name no tenant; let the lookup say TENANT_NOT_FOUND.
      }
      return segment.length === 0 ? undefined : slugOrId(segment)
    },
  }
}
