/** The contract app on Fastify. */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { tenantryFastify } from '../../src/index.ts'
import type { RunningApp } from '@tenantry/test-kit'

export async function startFastify(options: TenantHttpOptions): Promise<RunningApp> {
  const app = Fastify({ logger: false })
  await app.register(tenantryFastify, { ...options, errorHandler: true, notFoundHandler: true })
  const whoami = async (request: { tenant: { slug: string } | undefined; tenantAuth: unknown }) => {
    await sleep(Math.random() * 5)
    await new Promise((resolve) => setImmediate(resolve))
    return { slug: currentTenant().slug, requestTenant: request.tenant?.slug, auth: request.tenantAuth }
  }
  app.get('/api/whoami', (request) => whoami(request))
  app.get('/t/:tenant/api/whoami', (request) => whoami(request))
  app.post('/api/echo', async (request) => {
    await sleep(1)
    return { slug: currentTenant().slug, body: request.body }
  })
  app.get('/api/boom', async () => {
    await sleep(1)
    throw new Error('relation "secret_table" does not exist: select * from secret_table')
  })
  app.get('/api/slow', async () => {
    await sleep(300)
    return { slug: currentTenant().slug }
  })
  app.get('/healthz', async () => ({ tenant: tryCurrentTenant()?.slug ?? null }))
  app.get('/admin/ping', async () => ({ tenant: tryCurrentTenant()?.slug ?? null }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no address')
  return { port: address.port, close: () => app.close() }
}
