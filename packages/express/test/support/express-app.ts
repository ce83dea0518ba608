/** The contract app on Express, built with the Express module it is given: 4 (`express`) or 5 (`express5`). */
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import express4, { type ErrorRequestHandler, type RequestHandler } from 'express'
import express5 from 'express5'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { tenantryExpress, tenantryExpressErrorHandler, tenantryExpressNotFoundHandler } from '../../src/index.ts'
import type { RunningApp, StartApp } from '@tenantry/test-kit'

/** What the tests use of an Express module; both majors' default exports must fit it. */
export interface ExpressModule {
  (): ExpressApp
  json(options?: { limit?: number | string }): RequestHandler
}

export interface ExpressApp {
  use(handler: RequestHandler | ErrorRequestHandler): unknown
  use(path: string, handler: RequestHandler): unknown
  get(path: string, handler: RequestHandler): unknown
  post(path: string, handler: RequestHandler): unknown
  listen(port: number, hostname: string): Server
}

export interface ExpressVersion {
  /** `express <installed version>`: what test names carry. */
  readonly name: string
  readonly major: number
  readonly express: ExpressModule
}

function expressVersion(packageName: string, express: ExpressModule): ExpressVersion {
  // Read from the package itself, so that a test name cannot claim a version it does not run.
  const { version } = createRequire(import.meta.url)(`${packageName}/package.json`) as { version: string }
  return { name: `express ${version}`, major: Number(version.split('.')[0]), express }
}

/** The Express majors the adapter is tested on (`express5` is an npm alias of express@5). */
export const expressVersions: readonly ExpressVersion[] = [expressVersion('express', express4), expressVersion('express5', express5)]

/** Listens on a free loopback port. */
export async function listen(app: ExpressApp): Promise<RunningApp> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  }
}

export function expressContractApp(express: ExpressModule): StartApp {
  return async function startExpress(options: TenantHttpOptions): Promise<RunningApp> {
    const app = express()
    app.use(tenantryExpress(options))
    // Mounted after the tenant middleware on purpose: the scope must survive body parsing.
    app.use(express.json())
    const whoami: RequestHandler = async (req, res) => {
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
      // next(error), not throw: Express 4 does not forward a rejected handler (see express.test.ts for 5).
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
    return listen(app)
  }
}
