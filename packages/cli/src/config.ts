import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TenantryError } from '@tenantry/core'
import type { FleetMigrator, TenantCatalog } from '@tenantry/postgres'

/**
 * What the `tenantry` CLI works with, built by your config module from your own
 * targets, isolation models and migration folders.
 */
export interface TenantryConfig {
  /** The fleet migrator (see `FleetMigrator` in @tenantry/postgres). */
  readonly migrator: FleetMigrator
  /** The tenant catalog, for commands that list or change tenants. */
  readonly catalog?: TenantCatalog
  /** Closes pools and embedded databases when the command ends. */
  close?(): Promise<void>
}

/** A config module's default export: the config, or a function that builds it. */
export type TenantryConfigExport = TenantryConfig | (() => TenantryConfig | Promise<TenantryConfig>)

/**
 * Types a `tenantry.config.ts` (or `.mjs`) module.
 *
 * @example
 * // tenantry.config.ts
 * import { defineConfig } from 'tenantry'
 * export default defineConfig(async () => {
 *   const control = postgresTarget(process.env.DATABASE_URL!)
 *   const migrator = new FleetMigrator({ control, tenantMigrations: await loadMigrations('migrations/tenant'), shared, schema })
 *   return { migrator, close: () => control.pool.end() }
 * })
 */
export function defineConfig(config: TenantryConfigExport): TenantryConfigExport {
  return config
}

const CANDIDATES = ['tenantry.config.ts', 'tenantry.config.mts', 'tenantry.config.mjs', 'tenantry.config.js']

/** Finds and loads the config module (registering tsx for TypeScript when it is installed). */
export async function loadConfig(path: string | undefined, cwd = process.cwd()): Promise<TenantryConfig> {
  const file = path !== undefined ? resolve(cwd, path) : CANDIDATES.map((c) => resolve(cwd, c)).find((c) => existsSync(c))
  if (file === undefined || !existsSync(file)) {
    throw new TenantryError('VALIDATION_FAILED', path !== undefined
      ? `No config file at ${file}`
      : `No tenantry.config.ts / .mjs / .js in ${cwd}; create one (see docs/migrations.md) or pass --config <file>`)
  }
  if (/\.m?ts$/.test(file)) await registerTypeScript()
  const module = (await import(pathToFileURL(file).href)) as { default?: TenantryConfigExport }
  const exported = module.default
  if (exported === undefined) throw new TenantryError('VALIDATION_FAILED', `${file} has no default export; export default defineConfig(...)`)
  const config = typeof exported === 'function' ? await exported() : exported
  if (typeof config?.migrator?.migrate !== 'function') {
    throw new TenantryError('VALIDATION_FAILED', `${file} must provide { migrator } (a FleetMigrator)`)
  }
  return config
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
