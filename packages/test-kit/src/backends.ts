/**
 * The one fixture every database test goes through: PGlite always, and a real
 * PostgreSQL server whenever TENANTRY_PG_URL is set (then it must be reachable,
 * or the test fails: CI must never pass by skipping the server).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { PoolRouter, postgresTarget, serverDatabases, serverProvisioner, type DatabaseProvisioner, type PostgresTarget } from '@tenantry/postgres'
import { pgliteDatabases, pgliteProvisioner, pgliteTarget } from '@tenantry/postgres/pglite'

export interface TestDatabase extends PostgresTarget {
  /** Connection string (PostgreSQL only). */
  readonly url: string | undefined
  /** A second pool to the same database (PostgreSQL only; PGlite has one connection). */
  newPool(): pg.Pool
  close(): Promise<void>
}

export interface TestBackend {
  readonly name: 'pglite' | 'postgres'
  createDatabase(): Promise<TestDatabase>
}

let pgliteTemplate: Promise<PGlite> | undefined

async function freshPglite(): Promise<PGlite> {
  pgliteTemplate ??= PGlite.create()
  const template = await pgliteTemplate
  return (await template.clone()) as PGlite
}

const pgliteBackend: TestBackend = {
  name: 'pglite',
  async createDatabase() {
    const lite = await freshPglite()
    const target = pgliteTarget(lite)
    return {
      ...target,
      url: undefined,
      newPool() {
        throw new Error('PGlite has a single connection; use the pool of the TestDatabase')
      },
      async close() {
        await target.pool.end()
        await lite.close()
      },
    }
  },
}

function ignoreTeardownError(): void {}

/** A name unique to this run, safe as an unquoted identifier. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`
}

function postgresBackend(adminUrl: string): TestBackend {
  return {
    name: 'postgres',
    async createDatabase() {
      const admin = new pg.Client({ connectionString: adminUrl })
      try {
        await admin.connect()
      } catch (error) {
        throw new Error(`TENANTRY_PG_URL is set (${adminUrl}) but the server is unreachable: ${(error as Error).message}`)
      }
      const name = uniqueName('tenantry_test')
      await admin.query(`create database ${name}`)
      await admin.end()
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      const target = postgresTarget({ connectionString: url.toString(), max: 10 })
      // pool.end() resolves before every socket has closed; the forced drop below may
      // then kill a closing connection, which must not crash the test process.
      target.pool.on('error', ignoreTeardownError)
      const extra: pg.Pool[] = []
      return {
        ...target,
        url: url.toString(),
        newPool() {
          const pool = new pg.Pool({ connectionString: url.toString(), max: 10 })
          pool.on('error', ignoreTeardownError)
          extra.push(pool)
          return pool
        },
        async close() {
          await Promise.all([target.pool.end(), ...extra.map((p) => p.end())])
          const drop = new pg.Client({ connectionString: adminUrl })
          await drop.connect()
          await drop.query(`drop database if exists ${name} with (force)`)
          await drop.end()
        },
      }
    },
  }
}

/** PGlite, plus PostgreSQL when TENANTRY_PG_URL is set. */
export function testBackends(): TestBackend[] {
  const url = process.env.TENANTRY_PG_URL
  return url ? [pgliteBackend, postgresBackend(url)] : [pgliteBackend]
}

/** Drops cluster-wide roles made by a test (PostgreSQL roles outlive databases). */
export async function dropRoles(db: TestDatabase, roles: readonly string[]): Promise<void> {
  for (const role of roles) {
    await db.pool.query(`drop owned by ${role} cascade`).catch(() => undefined)
    await db.pool.query(`drop role if exists ${role}`).catch(() => undefined)
  }
}

/** The tenant databases of the database model beside a test database. */
export interface TestTenantDatabases {
  readonly router: PoolRouter
  readonly provisioner: DatabaseProvisioner
  /** The PGlite tenant databases' folder. */
  readonly dataDir: string | undefined
  /** Closes the router and removes the PGlite folder (a PostgreSQL tenant database is dropped by its test). */
  close(): Promise<void>
}

/**
 * Where a test's database tenants go: PGlite folders in a temporary directory,
 * or databases on the test's PostgreSQL server.
 */
export async function tenantDatabases(
  backend: TestBackend, database: TestDatabase, options: { readonly budget?: number; readonly template?: () => Promise<Blob> } = {},
): Promise<TestTenantDatabases> {
  if (backend.name === 'pglite') {
    const dataDir = await mkdtemp(join(tmpdir(), 'tenantry-models-'))
    const router = new PoolRouter({ databases: pgliteDatabases({ dataDir }), budget: options.budget ?? 4 })
    const provisioner = options.template ? pgliteProvisioner({ dataDir, template: options.template }) : pgliteProvisioner({ dataDir })
    return {
      router, provisioner, dataDir,
      async close() {
        await router.close()
        await rm(dataDir, { recursive: true, force: true })
      },
    }
  }
  const router = new PoolRouter({ databases: serverDatabases({ default: database.url! }), budget: options.budget ?? 8 })
  return { router, provisioner: serverProvisioner({ default: database.url! }), dataDir: undefined, close: () => router.close() }
}
