/**
 * `npm start`: the reference SaaS on HOST:PORT (default 127.0.0.1:3000),
 * embedded PGlite under TENANTRY_DATA_DIR (default ./.tenantry) unless
 * DATABASE_URL is set. See docs/reference-saas.md.
 */
import { performance } from 'node:perf_hooks'
import type { AddressInfo } from 'node:net'
import { TenantryError, isTenantryError } from '@tenantry/core'
import { startBanner } from './banner.ts'
import { loadConfig, resolveAdminToken } from './config/index.ts'
import { createSaas, type Saas } from './saas.ts'

function explain(error: unknown): string {
  if (isTenantryError(error)) {
    const details = error.details === undefined ? '' : `\n${JSON.stringify(error.details, null, 2)}`
    return `${error.code}: ${error.message}${details}`
  }
  return error instanceof Error ? (error.stack ?? error.message) : String(error)
}

/** A port in use or not ours to take is one line that names PORT, not a stack trace. */
function listenProblem(error: unknown, config: { host: string; port: number }): unknown {
  const code = (error as { code?: string } | undefined)?.code
  if (code === 'EADDRINUSE') {
    return new TenantryError('CONFLICT', `PORT ${config.port} is already in use on ${config.host}: stop what is listening there, or start with another port (PORT=${config.port === 3000 ? 3001 : 3000} npm start)`)
  }
  if (code === 'EACCES') {
    return new TenantryError('CONFLICT', `PORT ${config.port} on ${config.host} needs privileges this process lacks: use a port above 1023 (PORT=3000 npm start)`)
  }
  if (code === 'EADDRNOTAVAIL') {
    return new TenantryError('CONFLICT', `HOST ${config.host} is not an address of this machine: use HOST=127.0.0.1 or HOST=0.0.0.0`)
  }
  return error
}

async function main(): Promise<void> {
  const loaded = performance.now()
  const config = loadConfig()
  const token = await resolveAdminToken(config)
  if (token.source === 'env' && token.token.length < 16) {
    console.warn('warning: TENANTRY_ADMIN_TOKEN is shorter than 16 characters; use a long random token outside local tests')
  }
  const saas: Saas = await createSaas({ config, adminToken: token.token, admission: 'default' })
  saas.app.log.debug({ modulesMs: Math.round(loaded) }, 'modules loaded before main()')
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      console.error(`${signal} again: exiting without a clean shutdown`)
      process.exit(1)
    }
    stopping = true
    console.error(`${signal}: shutting down`)
    saas.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`shutdown failed: ${explain(error)}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))

  try {
    await saas.app.listen({ host: config.host, port: config.port })
  } catch (error) {
    await saas.close().catch(() => undefined)
    throw listenProblem(error, config)
  }
  const port = (saas.app.server.address() as AddressInfo).port
  const { items: tenants } = await saas.tenantry.tenants.list({ limit: 500 })
  console.log(
    startBanner({
      config,
      port,
      token,
      tenants,
      seeded: saas.seeded,
      backend: saas.tenantry.describe,
      // Since the process started: what a new user waits for after typing npm start.
      readySeconds: performance.now() / 1000,
      cwd: process.cwd(),
    }),
  )
}

main().catch((error: unknown) => {
  console.error(`The reference SaaS could not start: ${explain(error)}`)
  process.exit(1)
})
