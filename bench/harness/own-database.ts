/**
 * A database of a benchmark's own for `createTenantry`: an embedded PGlite
 * folder, or a database created beside the harness's on PostgreSQL; removed
 * by `close`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { postgresUrlFromEnv, type BenchBackend } from './backend.ts'

/**
 * @example
 * const { database, close } = await ownDatabase(backend, 'tenantry_bench_jobs')
 * backend.atClose(close)
 */
export async function ownDatabase(backend: Pick<BenchBackend, 'name' | 'uniqueName'>, prefix: string): Promise<{ database: string | { embedded: string }; close: () => Promise<void> }> {
  if (backend.name === 'pglite') {
    const dataDir = await mkdtemp(join(tmpdir(), `${prefix.replace(/_/g, '-')}-`))
    return { database: { embedded: dataDir }, close: () => rm(dataDir, { recursive: true, force: true }) }
  }
  const adminUrl = postgresUrlFromEnv()
  if (adminUrl === undefined) throw new Error('a benchmark database on PostgreSQL needs TENANTRY_PG_URL (or DATABASE_URL)')
  const name = backend.uniqueName(prefix)
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    database: url.toString(),
    async close() {
      const drop = new pg.Client({ connectionString: adminUrl })
      await drop.connect()
      await drop.query(`drop database if exists ${name} with (force)`)
      await drop.end()
    },
  }
}
