/** Resolvers that read the tenant from where the request arrived: host name or local port. */
import { TenantryError } from '../errors/index.ts'
import { isDomainName } from '../tenant/input.ts'
import { isSlug } from '../tenant/identifiers.ts'
import { hostName, isIpLiteral, type TenantResolver } from './request.ts'

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

function optionError(path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${path} ${message}`, { details: [{ path, message }] })
}

/** Lowercased base domains, longest first so `acme.app.example.com` matches `app.example.com` before `example.com`. */
function parseBaseDomains(value: unknown, path: string, required: boolean): string[] {
  if (value === undefined && !required) return []
  if (!Array.isArray(value) || (required && value.length === 0)) {
    throw optionError(path, `must be ${required ? 'a non-empty' : 'an'} array of host names such as "localhost" or "example.com"`)
  }
  const domains = value.map((entry: unknown, i) => {
    const domain = typeof entry === 'string' ? entry.trim().toLowerCase().replace(/\.$/, '') : undefined
    if (domain === undefined || !domain.split('.').every((label) => LABEL.test(label))) {
      throw optionError(`${path}.${i}`, 'must be a host name without scheme or port, such as "example.com"')
    }
    return domain
  })
  return [...new Set(domains)].sort((a, b) => b.length - a.length)
}

export interface SubdomainResolverOptions {
  /** Host names tenants are subdomains of: `['localhost']` serves `acme.localhost:3000`. */
  readonly baseDomains: readonly string[]
}

/**
 * Reads the slug from the first label of a host under one of `baseDomains`:
 * `acme.localhost:3000` -> slug `acme`. A bare base domain, a nested subdomain
 * (`x.acme.example.com`), a reserved name (`www`, `api`, `admin`, ...) or a label
 * that is not a valid slug identify NO tenant (`undefined`, not an error): those
 * hosts belong to the product, so the next resolver is asked, and with none left
 * the answer is TENANT_NOT_IDENTIFIED.
 *
 * @example
 * const bySubdomain = subdomainResolver({ baseDomains: ['localhost', 'example.com'] })
 * bySubdomain.identify({ host: 'acme.example.com', path: '/', headers: {} }) // { by: 'slug', slug: 'acme' }
 */
export function subdomainResolver(options: SubdomainResolverOptions): TenantResolver {
  const baseDomains = parseBaseDomains(options?.baseDomains, 'subdomainResolver: baseDomains', true)
  return {
    name: 'subdomain',
    identify(request) {
      const host = hostName(request)
      if (host === undefined) return undefined
      for (const base of baseDomains) {
        if (host.length <= base.length + 1 || !host.endsWith(base) || host[host.length - base.length - 1] !== '.') continue
        const label = host.slice(0, host.length - base.length - 1)
        return isSlug(label) ? { by: 'slug', slug: label } : undefined
      }
      return undefined
    },
  }
}

export interface CustomDomainResolverOptions {
  /** Hosts that are the product's own (and their subdomains): never looked up as custom domains. */
  readonly excludeBaseDomains?: readonly string[]
}

/**
 * Treats any other host as a tenant's custom domain: `tasks.acme.com:443` ->
 * `{ by: 'domain', domain: 'tasks.acme.com' }` (lowercased, port and trailing dot
 * stripped). IP literals, `localhost` and `*.localhost`, single-label hosts and
 * hosts equal to or under `excludeBaseDomains` are ignored. Put it after
 * `subdomainResolver` and pass the same base domains here.
 *
 * @example
 * const resolvers = [
 *   subdomainResolver({ baseDomains: ['example.com'] }),
 *   customDomainResolver({ excludeBaseDomains: ['example.com'] }),
 * ]
 */
export function customDomainResolver(options: CustomDomainResolverOptions = {}): TenantResolver {
  const excluded = parseBaseDomains(options?.excludeBaseDomains, 'customDomainResolver: excludeBaseDomains', false)
  return {
    name: 'custom-domain',
    identify(request) {
      const host = hostName(request)
      if (host === undefined || isIpLiteral(host) || host === 'localhost' || host.endsWith('.localhost')) return undefined
      if (excluded.some((base) => host === base || host.endsWith(`.${base}`))) return undefined
      return isDomainName(host) ? { by: 'domain', domain: host } : undefined
    },
  }
}

export interface PortResolverOptions {
  /** Local port -> tenant slug, for deployments that give each tenant a port. */
  readonly ports: Readonly<Record<number, string>>
}

/**
 * Reads the tenant from the local port the connection arrived on.
 *
 * @example
 * const byPort = portResolver({ ports: { 8081: 'acme', 8082: 'globex' } })
 * byPort.identify({ path: '/', headers: {}, localPort: 8081 }) // { by: 'slug', slug: 'acme' }
 */
export function portResolver(options: PortResolverOptions): TenantResolver {
  const map = new Map<number, string>()
  const ports: unknown = options?.ports
  if (typeof ports !== 'object' || ports === null) throw optionError('portResolver: ports', 'must be an object of port -> slug')
  for (const [key, slug] of Object.entries(ports)) {
    const port = Number(key)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw optionError(`portResolver: ports.${key}`, 'must be a port number 1-65535')
    if (!isSlug(slug)) throw optionError(`portResolver: ports.${key}`, 'must map to a valid, unreserved slug')
    map.set(port, slug)
  }
  if (map.size === 0) throw optionError('portResolver: ports', 'must map at least one port')
  return {
    name: 'port',
    identify(request) {
      const slug = request.localPort === undefined ? undefined : map.get(request.localPort)
      return slug === undefined ? undefined : { by: 'slug', slug }
    },
  }
}
