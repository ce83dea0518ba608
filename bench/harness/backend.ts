import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { postgresTarget, type PostgresTarget } from '@tenantry/postgres'
import { pgliteTarget } from '@tenantry/postgres/pglite'

export type BackendName = PostgresTarget['backend']

/**
 * A database a benchmark may fill and throw away: an in-memory PGlite, or a fresh
 * `tenantry_bench_<hex>` database on the PostgreSQL server (dropped WITH (FORCE)
 * at close, with every role the benchmark registered).
 */
export interface BenchBackend {
  readonly name: BackendName
  readonly target: PostgresTarget
  /** The engine as `select version()` names it, for the record. */
  readonly serverVersion: string
  /** A name unique to this run, safe as an unquoted identifier: `<prefix>_<hex>`. */
  uniqueName(prefix: string): string
  /** Drops a cluster-wide role at close, after the database is gone (PostgreSQL roles outlive databases). */
  dropRoleAtClose(role: string): void
  /**
   * Runs `task` at close (normal end, failure, Ctrl-C), before the database is
   * dropped: for what a benchmark makes outside its database, such as tenant
   * databases or a temporary folder. Latest first; a failing task is reported
   * and does not stop the others.
   */
  atClose(task: () => Promise<void>): void
  close(): Promise<void>
}

/** The admin (owner) URL of a PostgreSQL server, from TENANTRY_PG_URL or DATABASE_URL. */
export function postgresUrlFromEnv(): string | undefined {
  return process.env.TENANTRY_PG_URL || process.env.DATABASE_URL || undefined
}

function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

/** Tasks registered with `atClose`, run latest first. */
function closeTasks(): { add(task: () => Promise<void>): void; run(): Promise<void> } {
  const tasks: (() => Promise<void>)[] = []
  return {
    add(task) {
      tasks.push(task)
    },
    async run() {
      for (const task of tasks.splice(0).reverse()) {
        await task().catch((error: unknown) => console.error(`cleanup failed: ${(error as Error).message}`))
      }
    },
  }
}

async function versionOf(pool: pg.Pool): Promise<string> {
  const row = (await pool.query<{ version: string }>('select version()')).rows[0]
  return row?.version.split(' on ')[0] ?? 'unknown'
}

async function openPglite(): Promise<BenchBackend> {
  // In memory: the benchmarks measure query paths, not PGlite's file system layer.
  const lite = await PGlite.create()
  const target = pgliteTarget(lite)
  const serverVersion = `${await versionOf(target.pool)} (PGlite, in memory)`
  const cleanup = closeTasks()
  return {
    name: 'pglite',
    target,
    serverVersion,
    uniqueName,
    dropRoleAtClose() {
      // Roles live inside the instance, which is thrown away whole.
    },
    atClose: cleanup.add,
    async close() {
      await cleanup.run()
      await target.pool.end()
      await lite.close()
    },
  }
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl })
  try {
    await client.connect()
  } catch (error) {
    throw new Error(`cannot reach the PostgreSQL server at ${redact(adminUrl)}: ${(error as Error).message}`)
  }
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

function redact(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

async function openPostgres(adminUrl: string, poolSize: number): Promise<BenchBackend> {
  const database = uniqueName('tenantry_bench')
  await withAdmin(adminUrl, async (admin) => {
    const who = (await admin.query<{ ok: boolean }>('select rolsuper or rolbypassrls as ok from pg_roles where rolname = current_user')).rows[0]
    if (!who?.ok) {
      // The baseline reads the table as its owner with no tenant setting; under FORCE RLS
      // only a superuser or BYPASSRLS role still sees the rows.
      throw new Error('the benchmark needs a superuser or BYPASSRLS admin URL (the unscoped baseline reads every tenant)')
    }
    await admin.query(`create database ${database}`)
  })
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  const target = postgresTarget({ connectionString: url.toString(), max: poolSize })
  const roles: string[] = []
  let serverVersion = 'unknown'
  try {
    serverVersion = await versionOf(target.pool)
  } catch (error) {
    await target.pool.end().catch(() => undefined)
    await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${database} with (force)`))
    throw error
  }
  const cleanup = closeTasks()
  return {
    name: 'postgres',
    target,
    serverVersion,
    uniqueName,
    dropRoleAtClose(role) {
      roles.push(role)
    },
    atClose: cleanup.add,
    async close() {
      await cleanup.run()
      await target.pool.end().catch(() => undefined)
      await withAdmin(adminUrl, async (admin) => {
        await admin.query(`drop database if exists ${database} with (force)`)
        for (const role of roles) await admin.query(`drop role if exists ${pg.escapeIdentifier(role)}`)
      })
    },
  }
}

/** Opens a throwaway database on `name`; `poolSize` is the pool's max (PGlite: always 1). */
export async function openBackend(name: BackendName, poolSize: number): Promise<BenchBackend> {
  if (name === 'pglite') return openPglite()
  const url = postgresUrlFromEnv()
  if (!url) throw new Error('--backend postgres needs TENANTRY_PG_URL (or DATABASE_URL) set to an admin URL')
  return openPostgres(url, poolSize)
}
