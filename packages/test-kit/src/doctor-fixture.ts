/**
 * What a doctor test of the shared model starts from: a test database, a
 * runtime role unique to the run, and fresh tenant tables installed one per
 * call. Registers its own before/after hooks in the describe it is called in.
 */
import { after, before } from 'node:test'
import { SharedSchemaIsolation, type SharedSchemaOptions } from '@tenantry/postgres'
import { dropRoles, uniqueName, type TestBackend, type TestDatabase } from './backends.ts'

export interface DoctorFixture {
  /** The test database (set once the describe's before hooks ran). */
  readonly database: TestDatabase
  /** The runtime role of every model the fixture installs. */
  readonly role: string
  /** Roles dropped at the end: push any a test creates. */
  readonly roles: string[]
  /** Models closed at the end: push any a test opens. */
  readonly opened: { close(): Promise<void> }[]
  /** The number in the last table name handed out. */
  readonly tableNo: number
  /** The next number for a table name (the fixture's own tables use them too). */
  next(): number
  /**
   * A fresh tenant table `<prefix><n>` (id, tenant_id, body, an index on
   * tenant_id; `extra` statements after it, `$t` its name) under a shared model,
   * installed.
   */
  installed(options?: Partial<SharedSchemaOptions>, extra?: string): Promise<{ table: string; shared: SharedSchemaIsolation }>
}

/**
 * @example
 * for (const backend of testBackends()) describe(`doctor on ${backend.name}`, () => {
 *   const fixture = doctorFixture(backend, 't')
 *   it('passes a table install() set up', async () => {
 *     const { shared } = await fixture.installed()
 *     assert.equal((await shared.doctor()).ok, true)
 *   })
 * })
 */
export function doctorFixture(backend: TestBackend, prefix: string): DoctorFixture {
  let database: TestDatabase | undefined
  const role = uniqueName('tenantry_app')
  const roles: string[] = [role]
  const opened: { close(): Promise<void> }[] = []
  let tableNo = 0
  const current = (): TestDatabase => {
    if (database === undefined) throw new Error('doctorFixture: the database opens in the describe\'s before hook')
    return database
  }
  before(async () => {
    database = await backend.createDatabase()
  })
  after(async () => {
    for (const model of opened) await model.close()
    if (database === undefined) return
    await dropRoles(database, roles)
    await database.close()
  })
  return {
    get database() {
      return current()
    },
    role,
    roles,
    opened,
    get tableNo() {
      return tableNo
    },
    next: () => ++tableNo,
    async installed(options = {}, extra = '') {
      const db = current()
      const table = `${prefix}${++tableNo}`
      await db.pool.query(`create table ${table} (id int generated always as identity primary key, tenant_id uuid not null, body text); create index on ${table} (tenant_id); ${extra.replaceAll('$t', table)}`)
      const shared = new SharedSchemaIsolation(db, { tables: [table], runtimeRole: role, ...options })
      opened.push(shared)
      await shared.install()
      return { table, shared }
    },
  }
}
