import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { checksumOf, defineMigration, digestOf, loadMigrations, migrationSet, parseSqlMigration } from '@tenantry/postgres'

const isCode = (code: string) => (e: unknown) => isTenantryError(e) && e.code === code

describe('migration files', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenantry-migrations-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('splits a SQL file into up and down at "-- migrate:down"', () => {
    assert.deepEqual(parseSqlMigration('-- migrate:up\ncreate table t (id int);\n-- migrate:down\ndrop table t;\n'), {
      up: 'create table t (id int);', down: 'drop table t;', transaction: true,
    })
    assert.deepEqual(parseSqlMigration('create index concurrently i on t (id);\n-- migrate:no-transaction'), {
      up: 'create index concurrently i on t (id);', down: undefined, transaction: false,
    })
    assert.throws(() => parseSqlMigration('-- migrate:sideways\nselect 1'), isCode('VALIDATION_FAILED'))
  })

  it('loads SQL and JavaScript migrations in file-name order, with file checksums', async () => {
    await writeFile(join(dir, '0002_tasks.sql'), 'create table tasks (id int);\r\n-- migrate:down\r\ndrop table tasks;')
    await writeFile(join(dir, '0001_projects.mjs'), "export const up = 'create table projects (id int)'\nexport async function down({ client }) { await client.query('drop table projects') }\n")
    await writeFile(join(dir, 'README.md'), 'not a migration')
    const loaded = await loadMigrations(dir)
    assert.deepEqual(loaded.map((m) => [m.id, m.transaction, typeof m.up, typeof m.down]), [
      ['0001_projects', true, 'string', 'function'],
      ['0002_tasks', true, 'string', 'string'],
    ])
    assert.equal(loaded[1]!.checksum, checksumOf('create table tasks (id int);\n-- migrate:down\ndrop table tasks;'), 'CRLF and LF files have one checksum')
    await writeFile(join(dir, '0002_tasks.sql'), 'create table tasks (id int, title text);')
    assert.notEqual((await loadMigrations(dir))[1]!.checksum, loaded[1]!.checksum, 'an edit changes the checksum')
  })

  it('refuses bad ids, duplicate ids and a missing folder', async () => {
    assert.throws(() => defineMigration({ id: '../evil', up: 'select 1' }), isCode('VALIDATION_FAILED'))
    assert.throws(() => defineMigration({ id: '0001', up: 42 as never }), isCode('VALIDATION_FAILED'))
    assert.throws(() => migrationSet([{ id: '0001', up: 'select 1' }, { id: '0001', up: 'select 2' }]), isCode('VALIDATION_FAILED'))
    await assert.rejects(loadMigrations(join(dir, 'missing')), isCode('VALIDATION_FAILED'))
  })

  it('digests applied migrations by id and checksum, in order', () => {
    const a = defineMigration({ id: '0001', up: 'select 1' })
    const b = defineMigration({ id: '0002', up: 'select 2' })
    assert.equal(digestOf([a, b]), digestOf([{ id: '0001', checksum: a.checksum }, { id: '0002', checksum: b.checksum }]))
    assert.notEqual(digestOf([a, b]), digestOf([a]))
    assert.notEqual(digestOf([a, b]), digestOf([a, { ...b, checksum: 'edited' }]))
  })
})
