/** The contract app on Hono, served by @hono/node-server. */
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { serve } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { validator } from 'hono/validator'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { setTenantryHonoLogger, tenantryHono, tenantryHonoErrorHandler, tenantryHonoNotFoundHandler, type TenantryHonoEnv } from '../../src/index.ts'
import { type RunningApp } from '@tenantry/test-kit'

export async function startHono(options: TenantHttpOptions): Promise<RunningApp> {
  setTenantryHonoLogger(() => {})
  const app = new Hono<TenantryHonoEnv>()
  app.onError(tenantryHonoErrorHandler)
  app.notFound(tenantryHonoNotFoundHandler)
  app.use(tenantryHono(options))
  const whoami = async (c: Context<TenantryHonoEnv>) => {
    await sleep(Math.random() * 5)
    await new Promise((resolve) => setImmediate(resolve))
    return c.json({ slug: currentTenant().slug, requestTenant: c.get('tenant')?.slug, auth: c.get('tenantAuth') })
  }
  app.get('/api/whoami', whoami)
  app.get('/t/:tenant/api/whoami', whoami)
  app.post('/api/echo', validator('json', (value) => value), async (c) => {
    await sleep(1)
    return c.json({ slug: currentTenant().slug, body: c.req.valid('json') })
  })
  app.get('/api/boom', async () => {
    await sleep(1)
    throw new Error('relation "secret_table" does not exist: select * from secret_table')
  })
  app.get('/api/slow', async (c) => {
    await sleep(300)
    return c.json({ slug: currentTenant().slug })
  })
  app.get('/healthz', (c) => c.json({ tenant: tryCurrentTenant()?.slug ?? null }))
  app.get('/admin/ping', (c) => c.json({ tenant: tryCurrentTenant()?.slug ?? null }))
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  }
}
