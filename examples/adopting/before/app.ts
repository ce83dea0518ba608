// An existing multi-customer API: Fastify and Kysely on PostgreSQL, every query filtered by hand.
import { createHash } from 'node:crypto'
import Fastify, { type FastifyError } from 'fastify'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './database.js'

declare module 'fastify' {
  interface FastifyRequest { accountId: number }
}

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }) })
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

const app = Fastify({ logger: true })
app.decorateRequest('accountId', 0)
app.setErrorHandler((error: FastifyError, request, reply) => {
  if (error instanceof ApiError) return reply.code(error.status).send({ error: error.code, message: error.message })
  if (error.validation) return reply.code(400).send({ error: 'invalid', message: error.message })
  request.log.error(error)
  return reply.code(500).send({ error: 'internal', message: 'Something went wrong' })
})

// Every request names its account with its API key.
app.addHook('onRequest', async (request) => {
  if (request.url === '/healthz') return
  const key = request.headers['x-api-key']
  const account = typeof key === 'string'
    ? await db.selectFrom('accounts').select('id').where('api_key_hash', '=', sha256(key)).executeTakeFirst()
    : undefined
  if (account === undefined) throw new ApiError(401, 'unauthenticated', 'Send your API key in X-API-Key')
  request.accountId = account.id
})

const projectBody = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } }
const taskBody = { type: 'object', required: ['title'], properties: { title: { type: 'string', minLength: 1 } } }
const idParams = { type: 'object', properties: { id: { type: 'integer' } } }

app.get('/healthz', async () => ({ ok: true }))

app.get('/projects', async (request) =>
  db.selectFrom('projects').select(['id', 'name']).where('account_id', '=', request.accountId).orderBy('id').execute())

app.post<{ Body: { name: string } }>('/projects', { schema: { body: projectBody } }, async (request, reply) => {
  const project = await db.insertInto('projects').values({ account_id: request.accountId, name: request.body.name })
    .returning(['id', 'name']).executeTakeFirstOrThrow()
  return reply.code(201).send(project)
})

async function projectOf(accountId: number, id: number): Promise<{ id: number }> {
  const project = await db.selectFrom('projects').select('id').where('id', '=', id).where('account_id', '=', accountId).executeTakeFirst()
  if (project === undefined) throw new ApiError(404, 'not_found', `No project ${id}`)
  return project
}

app.get<{ Params: { id: number } }>('/projects/:id/tasks', { schema: { params: idParams } }, async (request) => {
  const project = await projectOf(request.accountId, request.params.id)
  return db.selectFrom('tasks').select(['id', 'title', 'done']).where('project_id', '=', project.id).orderBy('id').execute()
})

app.post<{ Params: { id: number }; Body: { title: string } }>('/projects/:id/tasks', { schema: { params: idParams, body: taskBody } }, async (request, reply) => {
  const project = await projectOf(request.accountId, request.params.id)
  const task = await db.insertInto('tasks').values({ project_id: project.id, title: request.body.title })
    .returning(['id', 'title', 'done']).executeTakeFirstOrThrow()
  return reply.code(201).send(task)
})

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
