import type { ApiKeyInfo, TenantLifecycle, TenantRecord } from '@tenantry/postgres'
import type { FastifyInstance } from 'fastify'
import { adminGuard } from './admin-guard.ts'
import { tenantListQuery, type TenantIndex } from './tenant-index.ts'
import {
  apiKeyInput, domainInput, domainParams, emptyInput, keyParams, newTenantInput, parseInput, slugParams, tenantPatchInput,
} from './validation.ts'

/** A tenant as the admin API shows it (docs/reference-saas.md). */
export interface TenantView {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly status: string
  readonly plan: string
  readonly isolation: string
  readonly domains: readonly string[]
  readonly settings: Readonly<Record<string, unknown>>
  readonly created_at: string
}

/**
 * A catalog record as the admin API answers it.
 *
 * @example
 * reply.send(tenantView(await tenants.get('acme')))
 */
export function tenantView(tenant: TenantRecord): TenantView {
  return {
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    plan: tenant.plan,
    isolation: tenant.isolation,
    domains: [...tenant.domains],
    settings: tenant.settings,
    created_at: tenant.createdAt.toISOString(),
  }
}

/**
 * An API key as the admin API shows it: never its secret.
 *
 * @example
 * const items = (await tenants.listApiKeys('acme')).map(apiKeyView)
 */
export function apiKeyView(key: ApiKeyInfo): Record<string, string | null> {
  return {
    id: key.id,
    name: key.name ?? null,
    prefix: key.prefix,
    created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
  }
}

/** Not tenant routes: the Tenantry plugin leaves them alone. */
const notTenant = { config: { tenant: false } }

/**
 * Every tenant not deleted, read 500 at a time: the plain `GET /tenants` of
 * DESIGN §4 (the console pages through `TenantIndex` instead).
 *
 * @example
 * const all = await everyTenant(tenantry.tenants)
 */
export async function everyTenant(tenants: TenantLifecycle): Promise<TenantRecord[]> {
  const all: TenantRecord[] = []
  let cursor: string | undefined
  do {
    const page = await tenants.list(cursor === undefined ? { limit: 500 } : { limit: 500, cursor })
    all.push(...page.items)
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return all
}

/**
 * The admin (control-plane) API under /admin/api (docs/reference-saas.md): every
 * route goes through Tenantry's tenant lifecycle, which checks the plan and
 * settings against the deployment's plans before anything is written.
 *
 * @example
 * await app.register(adminRoutes, { prefix: '/admin/api', tenants: tenantry.tenants, token, baseDomain: 'localhost' })
 */
export async function adminRoutes(
  app: FastifyInstance,
  options: { tenants: TenantLifecycle; token: string; baseDomain: string; index?: TenantIndex },
): Promise<void> {
  const { tenants, index } = options
  app.addHook('onRequest', adminGuard(options))

  // Without a query: every tenant (DESIGN §4). With one (?q, status, sort, order, limit, offset): a page and the total.
  app.get('/tenants', notTenant, async (request) => {
    const query = request.query as Record<string, unknown> | undefined
    if (index === undefined || query === undefined || Object.keys(query).length === 0) return { items: (await everyTenant(tenants)).map(tenantView) }
    return index.page(parseInput(tenantListQuery, query, 'query'))
  })

  app.post('/tenants', notTenant, async (request, reply) => {
    const input = parseInput(newTenantInput, request.body, 'body')
    const tenant = await tenants.create(input)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug }, isolation: tenant.isolation }, 'tenant created')
    return reply.code(201).send(tenantView(tenant))
  })

  app.get('/tenants/:slug', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    return tenantView(await tenants.get(slug))
  })

  app.patch('/tenants/:slug', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const patch = parseInput(tenantPatchInput, request.body, 'body')
    return tenantView(await tenants.update(slug, patch))
  })

  app.post('/tenants/:slug/suspend', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    parseInput(emptyInput, request.body ?? {}, 'body')
    const tenant = await tenants.suspend(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant suspended')
    return tenantView(tenant)
  })

  app.post('/tenants/:slug/resume', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    parseInput(emptyInput, request.body ?? {}, 'body')
    const tenant = await tenants.resume(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant resumed')
    return tenantView(tenant)
  })

  app.delete('/tenants/:slug', notTenant, async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const tenant = await tenants.offboard(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant deleted and its data purged')
    return reply.code(204).send()
  })

  app.post('/tenants/:slug/api-keys', notTenant, async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const { name } = parseInput(apiKeyInput, request.body ?? {}, 'body')
    const created = await tenants.createApiKey(slug, name === undefined ? {} : { name })
    request.log.info({ tenant: { slug }, keyId: created.id }, 'api key created')
    return reply.code(201).send({ id: created.id, key: created.key })
  })

  app.get('/tenants/:slug/api-keys', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    return { items: (await tenants.listApiKeys(slug)).map(apiKeyView) }
  })

  app.delete('/tenants/:slug/api-keys/:id', notTenant, async (request, reply) => {
    const { slug, id } = parseInput(keyParams, request.params, 'params')
    await tenants.revokeApiKey(slug, id)
    request.log.info({ tenant: { slug }, keyId: id }, 'api key revoked')
    return reply.code(204).send()
  })

  app.post('/tenants/:slug/domains', notTenant, async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const { domain } = parseInput(domainInput, request.body, 'body')
    const tenant = await tenants.addDomain(slug, domain)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug }, domain }, 'domain added')
    return reply.code(201).send(tenantView(tenant))
  })

  app.delete('/tenants/:slug/domains/:domain', notTenant, async (request, reply) => {
    const { slug, domain } = parseInput(domainParams, request.params, 'params')
    await tenants.removeDomain(slug, domain)
    request.log.info({ tenant: { slug }, domain }, 'domain removed')
    return reply.code(204).send()
  })
}
