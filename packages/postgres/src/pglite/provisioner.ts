import { existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { TenantryError } from '@tenantry/core'
import type { DatabaseProvisioner } from '../isolation/database/provisioners.ts'
import { databaseFolderName } from './databases.ts'

/**
 * Provisions PGlite databases as folders under `dataDir` (the layout
 * `pgliteDatabases` serves), optionally from a `dumpDataDir()` template, which
 * takes about a second instead of several for a fresh cluster.
 */
export function pgliteProvisioner(options: { dataDir: string; template?: () => Promise<Blob> }): DatabaseProvisioner {
  let template: Promise<Blob> | undefined
  return {
    async create(key) {
      const folder = join(options.dataDir, databaseFolderName(key.database))
      if (existsSync(folder)) throw new TenantryError('CONFLICT', `Tenant database "${key.database}" already exists`)
      await mkdir(options.dataDir, { recursive: true })
      template ??= options.template?.()
      const loadDataDir = template ? await template : undefined
      const lite = await PGlite.create(folder, loadDataDir ? { loadDataDir } : {})
      await lite.close()
    },
    async drop(key) {
      await rm(join(options.dataDir, databaseFolderName(key.database)), { recursive: true, force: true })
    },
  }
}
