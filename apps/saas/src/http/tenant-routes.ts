import { TenantryError } from '@tenantry/core'
import type { FastifyInstance } from 'fastify'
import type { Projects } from '../data/projects.ts'
import type { Tasks } from '../data/tasks.ts'
import type { SaasJobs } from '../jobs/reports.ts'
import { idParams, jobIdParams, newTaskInput, parseInput, parsePageQuery, projectInput, taskPatchInput } from './validation.ts'

/**
 * The tenant API under /api (docs/reference-saas.md). Every handler runs inside the request's
 * tenant context (the Tenantry plugin resolved and authenticated it), so the
 * data layer's queries see this tenant's rows only, in whatever model it lives.
 *
 * @example
 * await app.register(tenantRoutes, { prefix: '/api', projects, tasks })
 */
export async function tenantRoutes(app: FastifyInstance, options: { projects: Projects; tasks: Tasks; jobs?: SaasJobs | undefined }): Promise<void> {
  const { projects, tasks, jobs } = options

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

  if (jobs !== undefined) {
    // A usage report built in the background, as this tenant, by the queue's worker (served with Redis only).
    app.post('/reports', async (_request, reply) => reply.code(202).send(await jobs.requestReport()))
    app.get('/reports/:id', async (request) => {
      const { id } = parseInput(jobIdParams, request.params, 'params')
      const report = await jobs.report(id)
      if (report === undefined) throw new TenantryError('NOT_FOUND', `No report ${id} for this tenant`)
      return report
    })
  }

  app.get('/me', async (request) => {
    const tenant = request.tenant
    if (tenant === undefined) throw new TenantryError('TENANT_CONTEXT_MISSING', 'GET /api/me ran without a resolved tenant')
    return { tenant: { slug: tenant.slug, name: tenant.name, plan: tenant.plan, isolation: tenant.isolation } }
  })
}
