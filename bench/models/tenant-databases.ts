import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { serverDatabases, serverProvisioner, type DatabaseProvisioner, type TenantDatabases } from '@tenantry/postgres'
import { pgliteDatabases, pgliteProvisioner, pgliteTarget } from '@tenantry/postgres/pglite'
import pg from 'pg'
import type { BackendName, BenchBackend } from '../harness/backend.ts'
import { ROWS_PER_TENANT, fillTenantItems } from './tenant-items.ts'

/** The two groups of tenant databases: part (a) and part (b) of the benchmark. */
export type DatabaseGroup = 'point' | 'many'

/**
 * Where this run's tenant databases live and how they are made and dropped:
 * databases named `<run>_<group><n>` on the PostgreSQL server, or PGlite
 * folders under a temporary directory. Everything it makes is dropped by
 * `dropAll()`, which the harness also runs at close (so on Ctrl-C too).
 */
export interface TenantDatabaseHost {
  readonly backend: BackendName
  /** The prefix every database of this run starts with (PostgreSQL: what pg_stat_activity is filtered on). */
  readonly prefix: string
  /** The name of tenant database `index` of `group`. */
  name(group: DatabaseGroup, index: number): string
  /** Name prefix of `group`'s databases. */
  groupPrefix(group: DatabaseGroup): string
  /** What a PoolRouter connects through, for `group`'s databases. */
  databases(group: DatabaseGroup): TenantDatabases
  /**
   * Creates and drops `group`'s databases. `filled`: each new database is a copy
   * of a template that already holds the 1,000-row `items` table (ids 1..1000);
   * otherwise the table comes with the provision's setup.
   */
  provisioner(group: DatabaseGroup, filled: boolean): Promise<DatabaseProvisioner>
  /** Drops every database (and template) this run made; returns how many. */
  dropAll(): Promise<number>
}

/**
 * Refuses new databases once the host is closing and lets `dropAll` wait for
 * the ones being created, so a Ctrl-C in the middle of provisioning leaves
 * nothing behind.
 */
class CreationGate {
  closing = false
  readonly #inflight = new Set<Promise<unknown>>()

  wrap(provisioner: DatabaseProvisioner): DatabaseProvisioner {
    return {
      create: (key) => {
        if (this.closing) return Promise.reject(new Error('the benchmark is cleaning up'))
        const created = provisioner.create(key)
        const settled = created.then(() => undefined, () => undefined)
        this.#inflight.add(settled)
        void settled.then(() => this.#inflight.delete(settled))
        return created
      },
      drop: (key) => provisioner.drop(key),
    }
  }

  async close(): Promise<void> {
    this.closing = true
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight])
  }
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** Tenant databases on the PostgreSQL server of `adminUrl`, named `<prefix>_<group><n>`. */
export function serverDatabaseHost(adminUrl: string, backend: BenchBackend): TenantDatabaseHost {
  const prefix = backend.uniqueName('tenantry_bench_models')
  const template = `${prefix}_template`
  const gate = new CreationGate()
  let templateReady: Promise<void> | undefined

  async function admin<T>(fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
    const client = new pg.Client({ connectionString: database === undefined ? adminUrl : databaseUrl(adminUrl, database) })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }

  /** The template every database of a `filled` group copies: `items` with rows 1..1000. */
  async function createTemplate(): Promise<void> {
    await admin((client) => client.query(`create database ${pg.escapeIdentifier(template)}`))
    await admin((client) => fillTenantItems(client, 1, ROWS_PER_TENANT), template)
    // CREATE DATABASE … TEMPLATE needs the template to have no session: the one above has ended.
  }

  const host: TenantDatabaseHost = {
    backend: 'postgres',
    prefix: `${prefix}_`,
    name: (group, index) => `${prefix}_${group}${String(index).padStart(4, '0')}`,
    groupPrefix: (group) => `${prefix}_${group}`,
    databases: () => serverDatabases({ default: adminUrl }),
    async provisioner(_group, filled) {
      if (!filled) return gate.wrap(serverProvisioner({ default: adminUrl }))
      templateReady ??= createTemplate()
      await templateReady
      return gate.wrap(serverProvisioner({ default: adminUrl }, { template }))
    },
    async dropAll() {
      await gate.close()
      return admin(async (client) => {
        const names = (await client.query<{ datname: string }>(
          'select datname from pg_database where starts_with(datname, $1) order by datname',
          [`${prefix}_`],
        )).rows.map((r) => r.datname)
        // One at a time: concurrent DROP DATABASEs wait on each other's barrier and are far slower.
        for (const name of names) await client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
        return names.length
      })
    },
  }
  backend.atClose(async () => {
    await host.dropAll()
  })
  return host
}

/**
 * Tenant databases as PGlite folders under a temporary directory, one
 * sub-folder per group. New databases load a `dumpDataDir()` template (the
 * `items` table, empty or filled) instead of running initdb.
 */
export async function pgliteDatabaseHost(backend: BenchBackend): Promise<TenantDatabaseHost> {
  const root = await mkdtemp(join(tmpdir(), 'tenantry-bench-models-'))
  const gate = new CreationGate()
  let templates: Promise<{ empty: Blob; filled: Blob }> | undefined

  async function dumpTemplates(): Promise<{ empty: Blob; filled: Blob }> {
    const seed = await PGlite.create()
    try {
      await seed.exec('create table items (id bigint primary key, category int not null, name text not null, amount int not null)')
      const empty = await seed.dumpDataDir('none')
      const { pool } = pgliteTarget(seed)
      const client = await pool.connect()
      try {
        await fillTenantItems(client, 1, ROWS_PER_TENANT)
      } finally {
        client.release()
        await pool.end()
      }
      const filled = await seed.dumpDataDir('none')
      return { empty, filled }
    } finally {
      await seed.close()
    }
  }

  const folder = (group: DatabaseGroup): string => join(root, group)
  const host: TenantDatabaseHost = {
    backend: 'pglite',
    prefix: root,
    name: (group, index) => `${group}${String(index).padStart(4, '0')}`,
    groupPrefix: (group) => group,
    databases: (group) => pgliteDatabases({ dataDir: folder(group) }),
    async provisioner(group, filled) {
      templates ??= dumpTemplates()
      const blobs = await templates
      await mkdir(folder(group), { recursive: true })
      return gate.wrap(pgliteProvisioner({ dataDir: folder(group), template: async () => (filled ? blobs.filled : blobs.empty) }))
    },
    async dropAll() {
      await gate.close()
      let count = 0
      for (const group of ['point', 'many'] as const) count += (await readdir(folder(group)).catch(() => [])).length
      await rm(root, { recursive: true, force: true })
      return count
    },
  }
  backend.atClose(async () => {
    await host.dropAll()
  })
  return host
}
