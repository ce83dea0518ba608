/**
 * Serves the admin console (apps/console, built by Vite into its dist folder)
 * on the bare host: the page at `/admin` and at each of its client routes
 * (`/admin/tenants/acme`, `/admin/fleet`: any `/admin/*` but the admin API
 * and the assets), its files under `/admin/assets/`. The page holds no
 * secret: the admin token is typed in and kept in the browser's session
 * storage, and every action is a call to the admin API.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import { TenantryError } from '@tenantry/core'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hostNameOf } from './admin-guard.ts'

/**
 * Where `npm run build -w @tenantry/console` writes the console.
 *
 * @example
 * existsSync(join(CONSOLE_DIST, 'index.html')) // built?
 */
export const CONSOLE_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'console', 'dist')

/** What the console page may load and call: itself only; no framing. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
}

/** Paths under /admin that are never the page: the admin API and the built files. */
function notAPageRoute(path: string): boolean {
  return path === '/admin/api' || path.startsWith('/admin/api/') || path === '/admin/assets' || path.startsWith('/admin/assets/')
}

/**
 * The console at `/admin`, its client routes `/admin/*` and its files
 * `/admin/assets/*` (bare host only, like the admin API). An unknown
 * `/admin/api/...` path stays a JSON NOT_FOUND, never the page; when
 * `apps/console/dist` is missing, NOT_FOUND says how to build it.
 *
 * @example
 * await app.register(consoleStatic, { baseDomain: 'localhost' })
 */
export async function consoleStatic(app: FastifyInstance, options: { baseDomain: string; dist?: string }): Promise<void> {
  const dist = options.dist ?? CONSOLE_DIST
  const bareHosts = new Set([options.baseDomain, 'localhost', '127.0.0.1', '[::1]'])
  const onBareHost = async (request: FastifyRequest): Promise<void> => {
    if (!bareHosts.has(hostNameOf(request.headers.host))) {
      throw new TenantryError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]} on this host; the admin console is served on the bare host only`)
    }
  }
  const page = join(dist, 'index.html')
  const html = existsSync(page) ? readFileSync(page) : undefined
  const sendPage = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = request.url.split('?')[0] ?? ''
    if (notAPageRoute(path)) throw new TenantryError('NOT_FOUND', `No route ${request.method} ${path}`)
    if (html === undefined) {
      throw new TenantryError('NOT_FOUND', 'The admin console is not built: run `npm run build -w @tenantry/console` (npm ci and npm start build it)')
    }
    return reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html)
  }
  const route = { config: { tenant: false }, onRequest: onBareHost }
  app.get('/admin', route, sendPage)
  app.get('/admin/*', route, sendPage)
  if (html === undefined) return
  await app.register(async (assets) => {
    assets.addHook('onRequest', onBareHost)
    await assets.register(fastifyStatic, {
      root: join(dist, 'assets'),
      prefix: '/admin/assets/',
      decorateReply: false,
      // Vite names every file by its content: it never changes under the same name.
      immutable: true,
      maxAge: '365d',
      index: false,
      list: false,
    })
  })
}
