// The same tables behind Fastify: each request's tenant comes from its host
// (acme.localhost:3000) or its X-Tenant-ID header, its caller must show one of
// that tenant's API keys, and its handler's queries are scoped to it.
// npx tsx server.ts
import Fastify from 'fastify'
import { tenantryFastify } from '@tenantry/fastify'
import { createTenantry, currentTenant } from 'tenantry'
import type { Database } from './database.js'
import config from './tenantry.config.js'

const tenantry = await createTenantry<Database>(config)
const { db } = tenantry
const app = Fastify()
// Resolve, authenticate (Authorization: Bearer <API key>), admit; errors answer {"error":{"code","message"}}.
await app.register(tenantryFastify, { ...tenantry.http, exclude: ['/healthz'], errorHandler: true, notFoundHandler: true })

app.get('/healthz', async () => ({ ok: true }))
app.get('/api/me', async () => ({ tenant: currentTenant().slug }))
app.get('/api/projects', async () => db.selectFrom('projects').select(['id', 'name']).where('archived_at', 'is', null).orderBy('id').execute())
app.post<{ Body: { name: string } }>('/api/projects', {
  schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } },
}, async (request, reply) => {
  const project = await db.insertInto('projects').values({ name: request.body.name }).returning(['id', 'name']).executeTakeFirstOrThrow()
  return reply.code(201).send(project)
})

app.addHook('onClose', () => tenantry.close())
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close())
console.log(`listening on ${await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })}`)
