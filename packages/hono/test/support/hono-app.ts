/** The contract app on Hono, served by the `serve` it is given: @hono/node-server 1 or 2. */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { serve as serve1, type ServerType } from '@hono/node-server'
import { serve as serve2 } from 'hono-node-server2'
import { Hono, type Context } from 'hono'
import { validator } from 'hono/validator'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import { setTenantryHonoLogger, tenantryHono, tenantryHonoErrorHandler, tenantryHonoNotFoundHandler, type TenantryHonoEnv } from '../../src/index.ts'
import type { RunningApp, StartApp } from '@tenantry/test-kit'

/** What the contract app uses of a node-server's `serve`; both majors' must fit it. */
export type NodeServe = (options: { fetch: Hono['fetch']; hostname: string; port: number }) => ServerType

/**
 * The installed version, read from the package itself so that a test name cannot claim a
 * major it does not run (neither major exports its package.json; both entries are in dist/).
 */
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve(name)), 'utf8')) as { version: string }).version

/** The @hono/node-server majors the adapter is tested on (`hono-node-server2` is an npm alias of 2.x); test names carry `name`. */
export const nodeServers: ReadonlyArray<{ readonly name: string; readonly serve: NodeServe }> = [
  { name: `hono on @hono/node-server ${versionOf('@hono/node-server')}`, serve: serve1 },
  { name: `hono on @hono/node-server ${versionOf('hono-node-server2')}`, serve: serve2 },
]

export function honoContractApp(serve: NodeServe): StartApp {
  return async function startHono(options: TenantHttpOptions): Promise<RunningApp> {
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
    return listen(serve, app)
  }
}

/** Serves `app` with `serve` on a free loopback port. */
export async function listen(serve: NodeServe, app: Hono<TenantryHonoEnv>): Promise<RunningApp> {
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  }
}
