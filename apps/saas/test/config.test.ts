/** The environment of docs/reference-saas.md, the admin token, the cursor and the tenant migrations: no database needed. */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { loadMigrations } from '@tenantry/postgres'
import { adminTokenFile, decodeCursor, encodeCursor, loadConfig, tenantMigrationsDir, resolveAdminToken } from '@tenantry/saas'

describe('loadConfig', () => {
  it('defaults to 127.0.0.1:3000, base domain localhost, PGlite in ./.tenantry, in-memory caches', () => {
    const config = loadConfig({}, '/srv/app')
    assert.deepEqual(config, {
      databaseUrl: undefined,
      redisUrl: undefined,
      port: 3000,
      host: '127.0.0.1',
      adminToken: undefined,
      baseDomain: 'localhost',
      dataDir: '/srv/app/.tenantry',
      logLevel: 'info',
    })
  })

  it('reads every variable of docs/reference-saas.md', () => {
    const config = loadConfig(
      {
        DATABASE_URL: 'postgres://owner@db:5432/saas',
        REDIS_URL: 'redis://cache:6379',
        PORT: '8080',
        HOST: '0.0.0.0',
        TENANTRY_ADMIN_TOKEN: 'a-long-admin-token-0123456789',
        TENANTRY_BASE_DOMAIN: 'example.com',
        TENANTRY_DATA_DIR: '/var/lib/tenantry',
        LOG_LEVEL: 'warn',
      },
      '/srv/app',
    )
    assert.equal(config.databaseUrl, 'postgres://owner@db:5432/saas')
    assert.equal(config.redisUrl, 'redis://cache:6379')
    assert.equal(config.port, 8080)
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.adminToken, 'a-long-admin-token-0123456789')
    assert.equal(config.baseDomain, 'example.com')
    assert.equal(config.dataDir, '/var/lib/tenantry')
    assert.equal(config.logLevel, 'warn')
  })

  it('treats empty variables as absent', () => {
    const config = loadConfig({ DATABASE_URL: '', TENANTRY_ADMIN_TOKEN: ' ', PORT: '' }, '/x')
    assert.equal(config.databaseUrl, undefined)
    assert.equal(config.adminToken, undefined)
    assert.equal(config.port, 3000)
  })

  it('fails at start naming every bad variable', () => {
    assert.throws(
      () => loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://x', TENANTRY_BASE_DOMAIN: 'Not A Domain', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' }),
      (error: unknown) => {
        assert.ok(isTenantryError(error, 'VALIDATION_FAILED'))
        const paths = (error.details as { path: string }[]).map((d) => d.path).sort()
        assert.deepEqual(paths, ['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'REDIS_URL', 'TENANTRY_BASE_DOMAIN'])
        return true
      },
    )
  })
})

describe('resolveAdminToken', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenantry-saas-token-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('uses TENANTRY_ADMIN_TOKEN when set, and writes nothing', async () => {
    const token = await resolveAdminToken({ adminToken: 'from-the-env', dataDir: join(dir, 'env') })
    assert.deepEqual(token, { token: 'from-the-env', source: 'env' })
    await assert.rejects(stat(join(dir, 'env')))
  })

  it('generates a token once, keeps it (mode 0600) and reuses it on the next start', async () => {
    const dataDir = join(dir, 'generated')
    const first = await resolveAdminToken({ adminToken: undefined, dataDir })
    assert.equal(first.source, 'generated')
    assert.ok(first.token.length >= 32)
    assert.equal((await readFile(adminTokenFile({ dataDir }), 'utf8')).trim(), first.token)
    assert.equal((await stat(adminTokenFile({ dataDir }))).mode & 0o777, 0o600)
    const second = await resolveAdminToken({ adminToken: undefined, dataDir })
    assert.deepEqual(second, { token: first.token, source: 'file' })
  })
})

describe('list cursors', () => {
  const position = { createdAt: new Date('2025-03-01T10:20:30.456Z'), id: '7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10' }

  it('round-trips a position', () => {
    assert.deepEqual(decodeCursor(encodeCursor(position)), position)
  })

  it('refuses anything it did not issue', () => {
    const good = encodeCursor(position)
    const forged = [
      '',
      'not base64!',
      `${good}x`,
      Buffer.from('["2025-03-01T10:20:30.456Z"]').toString('base64url'),
      Buffer.from('["2025-03-01T10:20:30Z","7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10"]').toString('base64url'),
      Buffer.from('["2025-13-01T10:20:30.456Z","7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10"]').toString('base64url'),
      Buffer.from('["2025-03-01T10:20:30.456Z","7D0B3A52-5C39-4E4B-9A53-0D5A1F6C2A10"]').toString('base64url'),
      Buffer.from('["2025-03-01T10:20:30.456Z","x\' or 1=1 --"]').toString('base64url'),
      Buffer.from('{"createdAt":"2025-03-01T10:20:30.456Z","id":"7d0b3a52-5c39-4e4b-9a53-0d5a1f6c2a10"}').toString('base64url'),
      'A'.repeat(201),
    ]
    for (const raw of forged) {
      assert.throws(() => decodeCursor(raw), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'), raw)
    }
  })
})

describe('tenant migrations', () => {
  it('are found in file-name order, each with up() and down()', async () => {
    const migrations = await loadMigrations(tenantMigrationsDir)
    assert.ok(migrations.length >= 1)
    assert.equal(migrations[0]?.id, '0001_projects_tasks')
    assert.deepEqual(migrations.map((m) => m.id), [...migrations.map((m) => m.id)].sort())
    for (const m of migrations) {
      assert.equal(typeof m.up, 'function')
      assert.equal(typeof m.down, 'function')
    }
  })
})
