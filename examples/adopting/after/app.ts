// The same API on Tenantry: the tenant comes from the API key, and every query is scoped to it.
import { createHash } from 'node:crypto'
import Fastify, { type FastifyError } from 'fastify'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { TenantryError, httpErrorResponse, isTenantryError, type TenantResolver } from '@tenantry/core'
import { tenantryFastify } from '@tenantry/fastify'
import { createTenantry } from 'tenantry'
import type { Database } from './database.js'

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

// The accounts table stays the app's own (not a tenant table): read it as before.
const control = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }) })
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

// Every request names its account with its API key, and the account names its tenant.
const accountKey: TenantResolver = {
  name: 'account-key',
  async identify(request) {
    const key = request.headers['x-api-key']
    const account = typeof key === 'string'
      ? await control.selectFrom('accounts').select('tenant_id').where('api_key_hash', '=', sha256(key)).executeTakeFirst()
      : undefined
    if (account === undefined) throw new TenantryError('UNAUTHENTICATED', 'Send your API key in X-API-Key')
    return { by: 'id', id: account.tenant_id }
  },
}
// Installs the walls on projects and tasks, then doctor refuses to start on an unsafe database.
const tenantry = await createTenantry<Database>({
  database: process.env.DATABASE_URL!,
  models: { shared: { tables: ['projects', 'tasks'] } },
  resolution: { resolvers: [accountKey], authenticate: 'none' },
})
const db = tenantry.db

const app = Fastify({ logger: true })
app.setErrorHandler((error: FastifyError, request, reply) => {
  if (error instanceof ApiError) return reply.code(error.status).send({ error: error.code, message: error.message })
  if (isTenantryError(error)) {
    const { status, headers, body, internal } = httpErrorResponse(error)
    if (internal) request.log.error(error)
    return reply.code(status).headers(headers).send({ error: body.error.code.toLowerCase(), message: body.error.message })
  }
  if (error.validation) return reply.code(400).send({ error: 'invalid', message: error.message })
  request.log.error(error)
  return reply.code(500).send({ error: 'internal', message: 'Something went wrong' })
})
await app.register(tenantryFastify, { ...tenantry.http, exclude: ['/healthz'] })

const projectBody = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } }
const taskBody = { type: 'object', required: ['title'], properties: { title: { type: 'string', minLength: 1 } } }
const idParams = { type: 'object', properties: { id: { type: 'integer' } } }

app.get('/healthz', async () => ({ ok: true }))

app.get('/projects', async () =>
  db.selectFrom('projects').select(['id', 'name']).orderBy('id').execute())

app.post<{ Body: { name: string } }>('/projects', { schema: { body: projectBody } }, async (request, reply) => {
  const project = await db.insertInto('projects').values({ name: request.body.name })
    .returning(['id', 'name']).executeTakeFirstOrThrow()
  return reply.code(201).send(project)
})

async function projectOf(id: number): Promise<{ id: number }> {
  const project = await db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst()
  if (project === undefined) throw new ApiError(404, 'not_found', `No project ${id}`)
  return project
}

app.get<{ Params: { id: number } }>('/projects/:id/tasks', { schema: { params: idParams } }, async (request) => {
  const project = await projectOf(request.params.id)
  return db.selectFrom('tasks').select(['id', 'title', 'done']).where('project_id', '=', project.id).orderBy('id').execute()
})

app.post<{ Params: { id: number }; Body: { title: string } }>('/projects/:id/tasks', { schema: { params: idParams, body: taskBody } }, async (request, reply) => {
  const project = await projectOf(request.params.id)
  const task = await db.insertInto('tasks').values({ project_id: project.id, title: request.body.title })
    .returning(['id', 'title', 'done']).executeTakeFirstOrThrow()
  return reply.code(201).send(task)
})

app.addHook('onClose', () => tenantry.close())
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
