/**
 * The databases the runtime suite runs on: PGlite always, and a real PostgreSQL
 * server when TENANTRY_PG_URL is set (then it must be reachable: the suite fails,
 * it never skips).
 */
import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { createPgConfig } from '@electric-sql/pglite/node-postgres'
import pg from 'pg'

export interface TestDatabase {
  readonly pool: pg.Pool
  /** Ends the pool and frees the database. */
  close(): Promise<void>
}

export interface TestBackend {
  readonly name: 'pglite' | 'postgres'
  open(): Promise<TestDatabase>
}

const pglite: TestBackend = {
  name: 'pglite',
  async open() {
    const lite = await PGlite.create()
    const pool = new pg.Pool({ ...(createPgConfig(lite) as unknown as pg.PoolConfig), max: 1 })
    return {
      pool,
      async close() {
        await pool.end()
        await lite.close()
      },
    }
  },
}

function postgres(adminUrl: string): TestBackend {
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl })
    try {
      await client.connect()
    } catch (error) {
      throw new Error(`TENANTRY_PG_URL is set (${adminUrl}) but the server is unreachable: ${(error as Error).message}`)
    }
    try {
      return await work(client)
    } finally {
      await client.end()
    }
  }
  return {
    name: 'postgres',
    async open() {
      const name = `tenantry_kysely_${randomBytes(6).toString('hex')}`
      await admin((client) => client.query(`create database ${name}`))
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      const pool = new pg.Pool({ connectionString: url.toString(), max: 4 })
      return {
        pool,
        async close() {
          await pool.end()
          await admin((client) => client.query(`drop database if exists ${name} with (force)`))
        },
      }
    },
  }
}

/** PGlite, plus PostgreSQL when TENANTRY_PG_URL is set. */
export function testBackends(): TestBackend[] {
  const url = process.env.TENANTRY_PG_URL
  return url ? [pglite, postgres(url)] : [pglite]
}
