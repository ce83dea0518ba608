/**
 * @tenantry/postgres/pglite: the embedded engine, PostgreSQL in WASM (PGlite),
 * as a target, as a folder of tenant databases and as their provisioner. A
 * subpath of its own, so an application on PostgreSQL loads neither PGlite nor
 * its types: install `@electric-sql/pglite` only to use this.
 *
 * @example
 * import { PGlite } from '@electric-sql/pglite'
 * import { pgliteTarget } from '@tenantry/postgres/pglite'
 * const target = pgliteTarget(await PGlite.create('./.tenantry/main'))
 */
export { pgliteTarget } from './target.ts'
export { databaseFolderName, pgliteDatabases, type PgliteDatabasesOptions } from './databases.ts'
export { pgliteProvisioner } from './provisioner.ts'
export { openEmbedded, type EmbeddedDatabases, type EmbeddedOptions } from './embedded.ts'
export { lockDataDir } from './data-lock.ts'
