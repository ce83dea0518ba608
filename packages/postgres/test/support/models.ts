/**
 * The three isolation models on one test database (PGlite or PostgreSQL), with
 * one runtime role unique to the run, installed: what a test of several models
 * starts from.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DatabasePerTenantIsolation, PoolRouter, SchemaPerTenantIsolation, SharedSchemaIsolation,
  pgliteDatabases, pgliteProvisioner, serverDatabases, serverProvisioner,
  type SharedSchemaOptions,
} from '@tenantry/postgres'
import type { TestBackend, TestDatabase } from '../../../../test/support/backends.ts'

export interface TestModels {
  readonly shared: SharedSchemaIsolation | undefined
  readonly schemas: SchemaPerTenantIsolation
  readonly databases: DatabasePerTenantIsolation
  readonly router: PoolRouter
  /** The PGlite tenant databases' folder. */
  readonly dataDir: string | undefined
  /** Closes the models' pools and the router, and removes the PGlite folder. */
  close(): Promise<void>
}

export interface TestModelsOptions {
  /** The runtime role of every model (unique per run: roles are cluster-wide). */
  readonly role: string
  /** Options of the shared model; none without. Its tables must exist, unless `installShared` is false. */
  readonly shared?: Omit<SharedSchemaOptions, 'runtimeRole'>
  /** Install the shared model now (default), or leave it to the migrations that create its tables. */
  readonly installShared?: boolean
  /** A data-folder dump new PGlite tenant databases start from. */
  readonly pgliteTemplate?: () => Promise<Blob>
  readonly budget?: number
}

export async function openModels(backend: TestBackend, database: TestDatabase, options: TestModelsOptions): Promise<TestModels> {
  const { role } = options
  let shared: SharedSchemaIsolation | undefined
  if (options.shared) {
    shared = new SharedSchemaIsolation(database, { ...options.shared, runtimeRole: role })
    if (options.installShared !== false) await shared.install()
  }
  const schemas = new SchemaPerTenantIsolation(database, { runtimeRole: role })
  await schemas.install()
  let dataDir: string | undefined
  let router: PoolRouter
  let databases: DatabasePerTenantIsolation
  if (backend.name === 'pglite') {
    dataDir = await mkdtemp(join(tmpdir(), 'tenantry-models-'))
    router = new PoolRouter({ databases: pgliteDatabases({ dataDir }), budget: options.budget ?? 4 })
    const provisioner = options.pgliteTemplate ? pgliteProvisioner({ dataDir, template: options.pgliteTemplate }) : pgliteProvisioner({ dataDir })
    databases = new DatabasePerTenantIsolation({ router, provisioner, runtimeRole: role })
  } else {
    router = new PoolRouter({ databases: serverDatabases({ default: database.url! }), budget: options.budget ?? 8 })
    databases = new DatabasePerTenantIsolation({ router, provisioner: serverProvisioner({ default: database.url! }), runtimeRole: role })
  }
  await databases.install()
  return {
    shared, schemas, databases, router, dataDir,
    async close() {
      await shared?.close()
      await schemas.close()
      await router.close()
      if (dataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}
