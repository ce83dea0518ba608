import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PoolRouter, pgliteDatabases, pgliteProvisioner, pgliteTarget, type DatabaseProvisioner, type PostgresTarget } from '@tenantry/postgres'
import { lockDataDir } from './data-lock.ts'

/** The embedded databases: one PGlite for everything but database tenants, one PGlite each for those. */
export interface EmbeddedDatabases {
  readonly target: PostgresTarget
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  readonly describe: string
  close(): Promise<void>
}

/**
 * A fresh cluster's data folder, made once and kept as `<dataDir>/template.tar.gz`:
 * initdb in WASM takes seconds, loading this takes about one, for the main
 * database on first start and for every database tenant created later.
 */
async function clusterTemplate(dataDir: string): Promise<Blob> {
  const file = join(dataDir, 'template.tar.gz')
  if (existsSync(file)) return new Blob([await readFile(file)])
  const fresh = await PGlite.create()
  try {
    const blob = await fresh.dumpDataDir('gzip')
    await writeFile(`${file}.tmp`, Buffer.from(await blob.arrayBuffer()))
    await rename(`${file}.tmp`, file)
    return blob
  } finally {
    await fresh.close()
  }
}

/**
 * Opens (or on first start creates) the embedded databases under `dataDir`:
 * `main/` holds the control plane, the shared tables and the tenant schemas;
 * `databases/<name>/` one PGlite per database tenant.
 *
 * @example
 * const embedded = await openEmbedded('./.tenantry')
 */
export async function openEmbedded(dataDir: string): Promise<EmbeddedDatabases> {
  await mkdir(dataDir, { recursive: true })
  const unlock = await lockDataDir(dataDir)
  try {
    const mainDir = join(dataDir, 'main')
    const databasesDir = join(dataDir, 'databases')
    let template: Promise<Blob> | undefined
    const templateBlob = (): Promise<Blob> => (template ??= clusterTemplate(dataDir))
    const isNew = !existsSync(join(mainDir, 'PG_VERSION'))
    const lite = await PGlite.create(mainDir, isNew ? { loadDataDir: await templateBlob() } : {})
    const target = pgliteTarget(lite)
    const router = new PoolRouter({
      databases: pgliteDatabases({ dataDir: databasesDir }),
      // Each open tenant database is a PGlite instance in this process (~100 MB):
      // a few at a time, the least recently used closed beyond that.
      budget: 4,
      idleTimeoutMs: 60_000,
    })
    const provisioner = pgliteProvisioner({ dataDir: databasesDir, template: templateBlob })
    return {
      target,
      router,
      provisioner,
      describe: `embedded PGlite in ${dataDir}`,
      async close() {
        await router.close()
        await target.pool.end()
        await lite.close()
        await unlock()
      },
    }
  } catch (error) {
    await unlock()
    throw error
  }
}
