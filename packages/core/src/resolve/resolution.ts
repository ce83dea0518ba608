/** Runs resolvers in order, looks the answers up, and insists they agree. */
import { TenantryError } from '../errors/index.ts'
import { isDomainName } from '../tenant/input.ts'
import { isSlug, isUuid } from '../tenant/identifiers.ts'
import { assertServing } from '../tenant/lifecycle.ts'
import type { Tenant } from '../tenant/model.ts'
import { CachedTenantDirectory, type CachedTenantDirectoryOptions } from './cached-directory.ts'
import type { TenantDirectory } from './directory.ts'

export type { TenantDirectory } from './directory.ts'
import { describeIdentifier, identifierKey, type TenantIdentifier, type TenantRequest, type TenantResolver } from './request.ts'

/** One resolver's answer, as `identifyAll` reports it. */
export interface ResolverAnswer {
  readonly resolver: string
  readonly identifier: TenantIdentifier
}

export interface TenantResolutionOptions<T extends Tenant = Tenant> {
  /** Asked in this order; every one is asked, so disagreements are caught. */
  readonly resolvers: readonly TenantResolver[]
  readonly directory: TenantDirectory<T>
  /**
   * Wrap `directory` in a `CachedTenantDirectory` (true, or its options). Off by
   * default: pass a CachedTenantDirectory yourself to share it with invalidation.
   */
  readonly cache?: boolean | CachedTenantDirectoryOptions
}

/** True when the identifier can name a tenant at all; others are TENANT_NOT_FOUND without a lookup. */
function isWellFormed(identifier: TenantIdentifier): boolean {
  switch (identifier.by) {
    case 'slug':
      return isSlug(identifier.slug)
    case 'id':
      return isUuid(identifier.id)
    case 'domain':
      return isDomainName(identifier.domain)
  }
}

function lookup<T extends Tenant>(directory: TenantDirectory<T>, identifier: TenantIdentifier): Promise<T | undefined> {
  switch (identifier.by) {
    case 'slug':
      return directory.getBySlug(identifier.slug)
    case 'id':
      return directory.getById(identifier.id)
    case 'domain':
      return directory.getByDomain(identifier.domain)
  }
}

function describeAnswers(answers: readonly ResolverAnswer[]): { resolver: string; identifier: string }[] {
  return answers.map((a) => ({ resolver: a.resolver, identifier: describeIdentifier(a.identifier) }))
}

/**
 * Finds the tenant of a request: asks every resolver in order, looks each
 * distinct answer up in the directory, and checks that they all name the same
 * tenant and that it may serve.
 *
 * - no resolver answers: TENANT_NOT_IDENTIFIED (400)
 * - an answer names no tenant (unknown, deleted, or not a possible slug/id/domain): TENANT_NOT_FOUND (404)
 * - two answers name different tenants (host acme, header globex): TENANT_MISMATCH (403)
 * - the tenant is not `active`: TENANT_SUSPENDED (403)
 *
 * @example
 * const resolution = new TenantResolution({
 *   resolvers: [subdomainResolver({ baseDomains: ['localhost'] }), headerResolver()],
 *   directory: new CachedTenantDirectory(catalog),
 * })
 * const tenant = await resolution.resolve({ host: 'acme.localhost:3000', path: '/api/projects', headers: {} })
 */
export class TenantResolution<T extends Tenant = Tenant> {
  readonly resolvers: readonly TenantResolver[]
  readonly directory: TenantDirectory<T>

  constructor(options: TenantResolutionOptions<T>) {
    const resolvers: unknown = options?.resolvers
    if (!Array.isArray(resolvers) || resolvers.length === 0 || !resolvers.every((r) => typeof r?.identify === 'function' && typeof r.name === 'string')) {
      throw new TenantryError('VALIDATION_FAILED', 'TenantResolution needs resolvers: a non-empty array of TenantResolver ({ name, identify })', {
        details: [{ path: 'resolvers', message: 'must be a non-empty array of resolvers' }],
      })
    }
    const directory: unknown = options.directory
    const d = directory as Partial<TenantDirectory<T>> | null | undefined
    if (typeof d?.getBySlug !== 'function' || typeof d.getById !== 'function' || typeof d.getByDomain !== 'function') {
      throw new TenantryError('VALIDATION_FAILED', 'TenantResolution needs a directory with getBySlug, getById and getByDomain (a TenantCatalog fits)', {
        details: [{ path: 'directory', message: 'must implement TenantDirectory' }],
      })
    }
    this.resolvers = Object.freeze([...resolvers] as TenantResolver[])
    const cache = options.cache
    this.directory = cache === undefined || cache === false
      ? options.directory
      : new CachedTenantDirectory(options.directory, cache === true ? {} : cache)
  }

  /** Every resolver's answer, in resolver order (resolvers that say nothing are left out). */
  async identifyAll(request: TenantRequest): Promise<ResolverAnswer[]> {
    const answers: ResolverAnswer[] = []
    for (const resolver of this.resolvers) {
      const identifier = await resolver.identify(request)
      if (identifier !== undefined) answers.push({ resolver: resolver.name, identifier })
    }
    return answers
  }

  /**
   * The first resolver's answer, without any lookup (all resolvers still run, so
   * an invalid token still throws). Undefined when no resolver answers.
   *
   * @example
   * const id = await resolution.identify(request) // { by: 'slug', slug: 'acme' }
   */
  async identify(request: TenantRequest): Promise<TenantIdentifier | undefined> {
    return (await this.identifyAll(request))[0]?.identifier
  }

  /**
   * The request's tenant, active and agreed on by every resolver that answered;
   * throws TENANT_NOT_IDENTIFIED, TENANT_NOT_FOUND, TENANT_MISMATCH or TENANT_SUSPENDED.
   *
   * @example
   * const tenant = await resolution.resolve(request)
   * await runWithTenant(tenant, () => handler())
   */
  async resolve(request: TenantRequest): Promise<T> {
    const answers = await this.identifyAll(request)
    if (answers.length === 0) {
      throw new TenantryError(
        'TENANT_NOT_IDENTIFIED',
        `This route needs a tenant, and the request names none (tried: ${this.resolvers.map((r) => r.name).join(', ')})`,
      )
    }
    // Distinct identifiers only: host and header both saying "acme" cost one lookup.
    const distinct = new Map<string, TenantIdentifier>()
    for (const answer of answers) distinct.set(identifierKey(answer.identifier), answer.identifier)
    let tenant: T | undefined
    for (const identifier of distinct.values()) {
      const found = isWellFormed(identifier) ? await lookup(this.directory, identifier) : undefined
      if (found === undefined || found.status === 'deleted') {
        throw new TenantryError('TENANT_NOT_FOUND', `No tenant with ${describeIdentifier(identifier)}`)
      }
      if (tenant !== undefined && tenant.id !== found.id) {
        throw new TenantryError('TENANT_MISMATCH', 'The request names two different tenants; send one tenant (for example the host OR a matching X-Tenant-ID)', {
          details: describeAnswers(answers),
        })
      }
      tenant = found
    }
    const resolved = tenant as T
    assertServing(resolved)
    return resolved
  }
}
