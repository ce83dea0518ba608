import { TenantryError } from '@tenantry/core'
import type { FastifyInstance } from 'fastify'
import type { Projects } from '../data/projects.ts'
import type { Tasks } from '../data/tasks.ts'
import { idParams, newTaskInput, parseInput, parsePageQuery, projectInput, taskPatchInput } from './validation.ts'

/**
 * The tenant API under /api (docs/reference-saas.md). Every handler runs inside the request's
 * tenant context (the Tenantry plugin resolved and authenticated it), so the
 * data layer's queries see this tenant's rows only, in whatever model it lives.
 *
 * @example
 * await app.register(tenantRoutes, { prefix: '/api', projects, tasks })
 */
export async function tenantRoutes(app: FastifyInstance, options: { projects: Projects; tasks: Tasks }): Promise<void> {
  const { projects, tasks } = options

  app.get('/projects', async (request) => projects.list(parsePageQuery(request.query)))

  app.post('/projects', async (request, reply) => {
    const input = parseInput(projectInput, request.body, 'body')
    return reply.code(201).send(await projects.create(input))
  })

  app.get('/projects/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'params')
    return projects.get(id)
  })

  app.patch('/projects/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'params')
    const { name } = parseInput(projectInput, request.body, 'body')
    return projects.rename(id, name)
  })

  app.delete('/projects/:id', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'params')
    await projects.delete(id)
    return reply.code(204).send()
  })

  app.get('/projects/:id/tasks', async (request) => {
    const { id } = parseInput(idParams, request.params, 'params')
    return tasks.list(id, parsePageQuery(request.query))
  })

  app.post('/projects/:id/tasks', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'params')
    const input = parseInput(newTaskInput, request.body, 'body')
    return reply.code(201).send(await tasks.create(id, input))
  })

  app.patch('/tasks/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'params')
    const patch = parseInput(taskPatchInput, request.body, 'body')
    return tasks.update(id, patch)
  })

  app.delete('/tasks/:id', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'params')
    await tasks.delete(id)
    return reply.code(204).send()
  })

  app.get('/stats', async () => projects.stats())

  app.get('/me', async (request) => {
    const tenant = request.tenant
    if (tenant === undefined) throw new TenantryError('TENANT_CONTEXT_MISSING', 'GET /api/me ran without a resolved tenant')
    return { tenant: { slug: tenant.slug, name: tenant.name, plan: tenant.plan, isolation: tenant.isolation } }
  })
}
