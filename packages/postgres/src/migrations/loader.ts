import { readdir, readFile } from 'node:fs/promises'
import { extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TenantryError } from '@tenantry/core'
import { checksumOf, defineMigration, migrationSet, type Migration, type MigrationStep } from './migration.ts'

const SQL_FILE = /\.sql$/
const MODULE_FILE = /\.(ts|mts|js|mjs)$/
const IGNORED = /\.(d\.ts|test\.[cm]?[jt]s)$/

/**
 * Splits a SQL migration file into its up and down parts. A line
 * `-- migrate:down` starts the down part; `-- migrate:up` may open the file;
 * `-- migrate:no-transaction` runs the file outside a transaction.
 *
 * @example
 * parseSqlMigration('create table t (id int);\n-- migrate:down\ndrop table t;')
 * // { up: 'create table t (id int);', down: 'drop table t;', transaction: true }
 */
export function parseSqlMigration(text: string): { up: string; down: string | undefined; transaction: boolean } {
  const lines = text.replace(/\r\n/g, '\n').split('\n')
  const up: string[] = []
  const down: string[] = []
  let part: string[] = up
  let sawDown = false
  let transaction = true
  for (const line of lines) {
    const directive = /^\s*--\s*migrate:([a-z-]+)\s*$/i.exec(line)?.[1]?.toLowerCase()
    if (directive === 'up') part = up
    else if (directive === 'down') {
      part = down
      sawDown = true
    } else if (directive === 'no-transaction') transaction = false
    else if (directive !== undefined) throw new TenantryError('VALIDATION_FAILED', `Unknown directive "-- migrate:${directive}"; use up, down or no-transaction`)
    else part.push(line)
  }
  return { up: up.join('\n').trim(), down: sawDown ? down.join('\n').trim() : undefined, transaction }
}

interface MigrationModule {
  readonly up?: unknown
  readonly down?: unknown
  readonly transaction?: unknown
  readonly default?: MigrationModule
}

/**
 * Loads a folder of migrations, in file-name order. A `.sql` file is one
 * migration (see `parseSqlMigration`); a `.ts`/`.js` module exports `up` and
 * optionally `down` (functions of a MigrationContext, or SQL text) and
 * `transaction = false`. The id is the file name without its extension; the
 * checksum is the file's SHA-256, so editing an applied file is caught.
 * TypeScript files need a loader such as tsx (the `tenantry` CLI registers it
 * when it is installed).
 *
 * @example
 * const tenantMigrations = await loadMigrations('./migrations/tenant')
 */
export async function loadMigrations(folder: string): Promise<readonly Migration[]> {
  const dir = resolve(folder)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    throw new TenantryError('VALIDATION_FAILED', `Cannot read the migrations folder ${dir}: ${(error as Error).message}`, { cause: error })
  }
  const files = names.filter((n) => (SQL_FILE.test(n) || MODULE_FILE.test(n)) && !IGNORED.test(n)).sort()
  const migrations: Migration[] = []
  for (const name of files) {
    const path = join(dir, name)
    const id = name.slice(0, -extname(name).length)
    const text = await readFile(path, 'utf8')
    if (SQL_FILE.test(name)) {
      migrations.push(defineMigration({ id, ...parseSqlMigration(text), checksum: checksumOf(text) }))
      continue
    }
    const loaded = (await import(pathToFileURL(path).href)) as MigrationModule
    const module = typeof loaded.up === 'undefined' && loaded.default ? loaded.default : loaded
    if (module.transaction !== undefined && typeof module.transaction !== 'boolean') {
      throw new TenantryError('VALIDATION_FAILED', `Migration ${path}: "transaction" must be a boolean`)
    }
    migrations.push(defineMigration({
      id,
      up: module.up as MigrationStep,
      down: module.down as MigrationStep | undefined,
      transaction: module.transaction as boolean | undefined,
      checksum: checksumOf(text),
    }))
  }
  return migrationSet(migrations)
}
