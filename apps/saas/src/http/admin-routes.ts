import type { TenantRecord } from '@tenantry/postgres'
import type { FastifyInstance } from 'fastify'
import type { TenantAdministration } from '../tenants/administration.ts'
import { adminGuard } from './admin-guard.ts'
import { apiKeyInput, emptyInput, newTenantInput, parseInput, slugParams, tenantPatchInput } from './validation.ts'

/** A tenant as the admin API shows it (DESIGN §4). */
export interface TenantView {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly status: string
  readonly plan: string
  readonly isolation: string
  readonly domains: readonly string[]
  readonly created_at: string
}

export function tenantView(tenant: TenantRecord): TenantView {
  return {
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    plan: tenant.plan,
    isolation: tenant.isolation,
    domains: [...tenant.domains],
    created_at: tenant.createdAt.toISOString(),
  }
}

/** Not tenant routes: the Tenantry plugin leaves them alone. */
const notTenant = { config: { tenant: false } }

/**
 * The admin (control-plane) API under /admin/api, exactly as DESIGN §4 lists it.
 *
 * @example
 * await app.register(adminRoutes, { prefix: '/admin/api', admin, token, baseDomain: 'localhost' })
 */
export async function adminRoutes(
  app: FastifyInstance,
  options: { admin: TenantAdministration; token: string; baseDomain: string },
): Promise<void> {
  const { admin } = options
  app.addHook('onRequest', adminGuard(options))

  app.get('/tenants', notTenant, async () => ({ items: (await admin.list()).map(tenantView) }))

  app.post('/tenants', notTenant, async (request, reply) => {
    const input = parseInput(newTenantInput, request.body, 'body')
    const tenant = await admin.create(input)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug }, isolation: tenant.isolation }, 'tenant created')
    return reply.code(201).send(tenantView(tenant))
  })

  app.get('/tenants/:slug', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    return tenantView(await admin.get(slug))
  })

  app.patch('/tenants/:slug', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const patch = parseInput(tenantPatchInput, request.body, 'body')
    return tenantView(await admin.update(slug, patch))
  })

  app.post('/tenants/:slug/suspend', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    parseInput(emptyInput, request.body ?? {}, 'body')
    const tenant = await admin.suspend(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant suspended')
    return tenantView(tenant)
  })

  app.post('/tenants/:slug/resume', notTenant, async (request) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    parseInput(emptyInput, request.body ?? {}, 'body')
    const tenant = await admin.resume(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant resumed')
    return tenantView(tenant)
  })

  app.delete('/tenants/:slug', notTenant, async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const tenant = await admin.delete(slug)
    request.log.info({ tenant: { id: tenant.id, slug: tenant.slug } }, 'tenant deleted and its data purged')
    return reply.code(204).send()
  })

  app.post('/tenants/:slug/api-keys', notTenant, async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'params')
    const { name } = parseInput(apiKeyInput, request.body ?? {}, 'body')
    const created = await admin.createApiKey(slug, name)
    request.log.info({ tenant: { slug }, keyId: created.id }, 'api key created')
    return reply.code(201).send({ id: created.id, key: created.key })
  })
}
