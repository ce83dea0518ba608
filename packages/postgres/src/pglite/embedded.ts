import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { TenantryError } from '@tenantry/core'
import type { PostgresTarget } from '../driver/target.ts'
import type { DatabaseProvisioner } from '../isolation/database/provisioners.ts'
import { PoolRouter } from '../pool-router/pool-router.ts'
import { lockDataDir } from './data-lock.ts'
import { pgliteDatabases } from './databases.ts'
import { pgliteProvisioner } from './provisioner.ts'
import { pgliteTarget } from './target.ts'

export interface EmbeddedOptions {
  /**
   * The folder the databases live in (made if missing); `'memory'` keeps them
   * in memory and drops them at close (tests, demos).
   */
  readonly dataDir: string
  /**
   * Database tenants' databases open at once: each is a PGlite instance in
   * this process (about 100 MB), the least recently used closed beyond it.
   * Default 4.
   */
  readonly budget?: number
  /** An idle tenant database is closed after this long. Default 60 000 ms. */
  readonly idleTimeoutMs?: number
}

/** The embedded databases: one PGlite for everything but database tenants, one PGlite each for those. */
export interface EmbeddedDatabases {
  /** The main database: control plane, shared tables, tenant schemas. */
  readonly target: PostgresTarget
  /** Serves the database tenants' databases (a PGlite each). */
  readonly router: PoolRouter
  /** Makes and drops database tenants' databases. */
  readonly provisioner: DatabaseProvisioner
  /** Where the data is, for a start banner. */
  readonly describe: string
  /** Closes every database and releases the folder. */
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
 * Opens (or on first use creates) the embedded databases under `dataDir`:
 * `main/` holds the control plane, the shared tables and the tenant schemas;
 * `databases/<name>/` one PGlite per database tenant. The folder is locked to
 * this process (`<dataDir>/lock`): a second process on it fails with CONFLICT
 * instead of corrupting it. `createTenantry({ database: { dataDir } })` calls it.
 *
 * @example
 * const embedded = await openEmbedded({ dataDir: './.tenantry' })
 * try { ... } finally { await embedded.close() }
 */
export async function openEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabases> {
  if (typeof options?.dataDir !== 'string' || options.dataDir.trim() === '') {
    throw new TenantryError('VALIDATION_FAILED', "openEmbedded needs { dataDir }: a folder, or 'memory'", {
      details: [{ path: 'dataDir', message: "must be a folder path or 'memory'" }],
    })
  }
  const memory = options.dataDir === 'memory'
  const dataDir = memory ? await mkdtemp(join(tmpdir(), 'tenantry-embedded-')) : resolve(options.dataDir)
  await mkdir(dataDir, { recursive: true })
  const unlock = await lockDataDir(dataDir)
  const cleanUp = async (): Promise<void> => {
    await unlock()
    if (memory) await rm(dataDir, { recursive: true, force: true })
  }
  try {
    const mainDir = join(dataDir, 'main')
    const databasesDir = join(dataDir, 'databases')
    let template: Promise<Blob> | undefined
    const templateBlob = (): Promise<Blob> => (template ??= clusterTemplate(dataDir))
    const isNew = memory || !existsSync(join(mainDir, 'PG_VERSION'))
    const lite = await PGlite.create(memory ? undefined : mainDir, isNew ? { loadDataDir: await templateBlob() } : {})
    const target = pgliteTarget(lite)
    const router = new PoolRouter({
      databases: pgliteDatabases({ dataDir: databasesDir }),
      budget: options.budget ?? 4,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    })
    const provisioner = pgliteProvisioner({ dataDir: databasesDir, template: templateBlob })
    return {
      target,
      router,
      provisioner,
      describe: memory ? 'embedded PGlite in memory' : `embedded PGlite in ${dataDir}`,
      async close() {
        await router.close()
        await target.pool.end()
        await lite.close()
        await cleanUp()
      },
    }
  } catch (error) {
    await cleanUp()
    throw error
  }
}
