/**
 * The three isolation models on one test database (PGlite or PostgreSQL), with
 * one runtime role unique to the run, installed: what a test of several models
 * starts from. Built by createTenantry, as an application builds them.
 */
import type { DatabasePerTenantIsolation, PoolRouter, SchemaPerTenantIsolation, SharedSchemaIsolation, SharedSchemaOptions } from '@tenantry/postgres'
import { createTenantry, type Tenantry } from 'tenantry'
import { tenantDatabases, type TestBackend, type TestDatabase } from './backends.ts'

export interface TestModels {
  readonly shared: SharedSchemaIsolation | undefined
  readonly schemas: SchemaPerTenantIsolation
  readonly databases: DatabasePerTenantIsolation
  readonly router: PoolRouter
  /** What built them. */
  readonly tenantry: Tenantry
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
  const tenantDbs = await tenantDatabases(backend, database, {
    ...(options.budget === undefined ? {} : { budget: options.budget }),
    ...(options.pgliteTemplate === undefined ? {} : { template: options.pgliteTemplate }),
  })
  const tenantry = await createTenantry({
    database: { target: database, router: tenantDbs.router, provisioner: tenantDbs.provisioner },
    models: { ...(options.shared ? { shared: options.shared } : {}), schema: true, database: true },
    runtimeRole: options.role,
    migrate: false,
    install: false,
    doctor: 'off',
    // The catalog is the test's to install (or not): no audit sink on a catalog that may not exist.
    auditSystemScopes: false,
  }).catch(async (error: unknown) => {
    await tenantDbs.close()
    throw error
  })
  const { shared, schema, database: databases } = tenantry.models
  if (shared !== undefined && options.installShared !== false) await shared.install()
  await schema!.install()
  await databases!.install()
  return {
    shared, schemas: schema!, databases: databases!, router: tenantDbs.router, tenantry, dataDir: tenantDbs.dataDir,
    async close() {
      await tenantry.close()
      await tenantDbs.close()
    },
  }
}
