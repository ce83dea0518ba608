/** The contract app on Express. */
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import express from 'express'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { tenantryExpress, tenantryExpressErrorHandler, tenantryExpressNotFoundHandler } from '../../src/index.ts'
import { type RunningApp } from '@tenantry/test-kit'

export async function startExpress(options: TenantHttpOptions): Promise<RunningApp> {
  const app = express()
  app.use(tenantryExpress(options))
  // Mounted after the tenant middleware on purpose: the scope must survive body parsing.
  app.use(express.json())
  const whoami = async (req: express.Request, res: express.Response) => {
    await sleep(Math.random() * 5)
    await new Promise((resolve) => setImmediate(resolve))
    res.json({ slug: currentTenant().slug, requestTenant: req.tenant?.slug, auth: req.tenantAuth })
  }
  app.get('/api/whoami', whoami)
  app.get('/t/:tenant/api/whoami', whoami)
  app.post('/api/echo', async (req, res) => {
    await sleep(1)
    res.json({ slug: currentTenant().slug, body: req.body })
  })
  app.get('/api/boom', async (_req, _res, next) => {
    await sleep(1)
    next(new Error('relation "secret_table" does not exist: select * from secret_table'))
  })
  app.get('/api/slow', async (_req, res) => {
    await sleep(300)
    if (!res.destroyed) res.json({ slug: currentTenant().slug })
  })
  app.get('/healthz', (_req, res) => { res.json({ tenant: tryCurrentTenant()?.slug ?? null }) })
  app.get('/admin/ping', (_req, res) => { res.json({ tenant: tryCurrentTenant()?.slug ?? null }) })
  app.use(tenantryExpressNotFoundHandler())
  app.use(tenantryExpressErrorHandler({ log: () => {} }))
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  }
}
