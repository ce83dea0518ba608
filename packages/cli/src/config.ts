import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TenantryError } from '@tenantry/core'
import { DIRECT_URL_ADVICE, checkConfig, ownerBehindTransactionPooler, type TenantryConfig } from './setup/config.ts'
import { createTenantry, type Tenantry } from './setup/create-tenantry.ts'

/** A config module's default export: the config `createTenantry` takes, or a function that returns it. */
export type TenantryConfigExport = TenantryConfig | (() => TenantryConfig | Promise<TenantryConfig>)

/**
 * Types a `tenantry.config.ts` (or `.mjs`) module: the same object your app
 * passes to `createTenantry`, so the CLI and the app can never disagree.
 *
 * @example
 * // tenantry.config.ts
 * import { defineConfig } from 'tenantry'
 * export default defineConfig({
 *   database: process.env.DATABASE_URL ?? { embedded: './.tenantry' },
 *   models: { shared: { tables: ['projects', 'tasks'] }, schema: true },
 *   migrations: { tenant: './migrations/tenant' },
 * })
 * // and in the app: const tenantry = await createTenantry(config)
 */
export function defineConfig<T extends TenantryConfigExport>(config: T): T {
  return config
}

const CANDIDATES = ['tenantry.config.ts', 'tenantry.config.mts', 'tenantry.config.mjs', 'tenantry.config.js']

/** Finds and loads the config module (registering tsx for TypeScript when it is installed), and checks it. */
export async function loadConfig(path: string | undefined, cwd = process.cwd()): Promise<TenantryConfig> {
  const file = path !== undefined ? resolve(cwd, path) : CANDIDATES.map((c) => resolve(cwd, c)).find((c) => existsSync(c))
  if (file === undefined || !existsSync(file)) {
    throw new TenantryError('VALIDATION_FAILED', path !== undefined
      ? `No config file at ${file}`
      : `No tenantry.config.ts / .mjs / .js in ${cwd}; create one (see docs/cli.md) or pass --config <file>`)
  }
  if (/\.m?ts$/.test(file)) await registerTypeScript()
  const module = (await import(pathToFileURL(file).href)) as { default?: TenantryConfigExport }
  const exported = module.default
  if (exported === undefined) throw new TenantryError('VALIDATION_FAILED', `${file} has no default export; export default defineConfig({ database, models, … })`)
  const config = typeof exported === 'function' ? await exported() : exported
  try {
    checkConfig(config)
  } catch (error) {
    if (error instanceof TenantryError) throw new TenantryError('VALIDATION_FAILED', `${file}: ${error.message}`, { details: error.details })
    throw error
  }
  return config
}

/**
 * How a command opens Tenantry: `install` as an app starts (catalog and every
 * model's walls; idempotent), `connect` with the catalog only, `migrate` as
 * `connect` for a command that needs a session (the fleet lock): refused
 * behind a declared transaction pooler.
 */
export type CommandNeeds = 'connect' | 'install' | 'migrate'

/**
 * Loads the config, opens Tenantry for one command (never migrating at start:
 * `tenantry migrate` is the command for that; doctor reports instead of
 * refusing), runs `work`, and closes.
 */
export async function withTenantry<T>(configPath: string | undefined, needs: CommandNeeds, work: (tenantry: Tenantry) => Promise<T>): Promise<T> {
  const config = await loadConfig(configPath)
  if (needs === 'migrate' && ownerBehindTransactionPooler(config)) {
    // Before anything connects: the migrator would refuse too, but only after the catalog install below.
    throw new TenantryError('VALIDATION_FAILED', `This command needs a session (the fleet migration lock), which a transaction pooler (database.pooler: 'transaction') does not keep: ${DIRECT_URL_ADVICE}`, {
      details: [{ path: 'config.database.directUrl', message: "is required for tenantry migrate behind database.pooler: 'transaction'" }],
    })
  }
  const tenantry = await createTenantry({ ...config, migrate: false, install: needs === 'install', doctor: 'off' })
  try {
    // The control plane is every command's: made on a fresh database, checked otherwise (idempotent).
    if (needs !== 'install') await tenantry.catalog.install()
    return await work(tenantry)
  } finally {
    await tenantry.close()
  }
}

async function registerTypeScript(): Promise<void> {
  // Already running under tsx (or another loader that handles .ts)?
  if (process.execArgv.some((a) => a.includes('tsx')) || (process.features as { typescript?: unknown }).typescript) return
  try {
    const api = (await import('tsx/esm/api' as string)) as { register: () => unknown }
    api.register()
  } catch {
    throw new TenantryError('VALIDATION_FAILED', 'A TypeScript config needs tsx (npm install -D tsx), or write tenantry.config.mjs')
  }
}
