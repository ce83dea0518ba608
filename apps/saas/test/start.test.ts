/**
 * `npm start` as a new user runs it: the real entry point in a child process,
 * on embedded PGlite in an empty data folder (and, with TENANTRY_PG_URL, on a
 * fresh PostgreSQL database through DATABASE_URL). First start: demo tenants, a
 * generated admin token, the curl lines; a restart keeps the data and the token;
 * a second process on the same data folder is refused.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { testBackends, type TestDatabase } from '@tenantry/test-kit'

const root = fileURLToPath(new URL('../../../', import.meta.url))

interface Started {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--conditions=tenantry-source', '--import', 'tsx', 'apps/saas/src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

async function ready(started: Started): Promise<{ port: number; banner: string }> {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    const text = started.output()
    const match = /ready in [\d.]+ s on [^:]+:(\d+)/.exec(text)
    if (match && text.includes('Stop with Ctrl-C')) return { port: Number(match[1]), banner: text }
    if (started.child.exitCode !== null) throw new Error(`npm start exited with ${started.child.exitCode}:\n${text}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`npm start was not ready within 120 s:\n${started.output()}`)
}

async function stop(started: Started): Promise<number | null> {
  if (started.child.exitCode === null) started.child.kill('SIGTERM')
  return started.exited
}

function call(port: number, path: string, options: { host?: string; token?: string; method?: string } = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: options.host ?? `localhost:${port}` }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    const request = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, agent: false }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }))
    })
    request.on('error', reject)
    request.end()
  })
}

for (const backend of testBackends()) {
  describe(`npm start on ${backend.name}`, () => {
    let dataDir: string
    let database: TestDatabase | undefined
    const running: Started[] = []
    let env: Record<string, string>
    /** The app's default runtime role is cluster-wide: drop it afterwards if this test made it. */
    let roleExisted = true

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'tenantry-saas-start-'))
      env = { TENANTRY_DATA_DIR: dataDir }
      if (backend.name === 'postgres') {
        database = await backend.createDatabase()
        env.DATABASE_URL = database.url as string
        roleExisted = (await database.pool.query("select 1 from pg_roles where rolname = 'tenantry_app'")).rowCount === 1
      }
    })
    after(async () => {
      for (const started of running) await stop(started)
      if (database !== undefined) {
        // The demo's database tenant lives beside the test database on the server.
        const { rows } = await database.pool.query<{ db: string }>("select placement->>'database' as db from tenantry.tenants where placement ? 'database'").catch(() => ({ rows: [] as { db: string }[] }))
        const admin = new pg.Client({ connectionString: process.env.TENANTRY_PG_URL })
        await admin.connect()
        for (const { db } of rows) await admin.query(`drop database if exists ${pg.escapeIdentifier(db)} with (force)`)
        await database.close()
        if (!roleExisted) await admin.query('drop role if exists tenantry_app').catch(() => undefined)
        await admin.end()
      }
      await rm(dataDir, { recursive: true, force: true })
    })

    let token: string
    let projectId: string

    it('first start: serves the three demo tenants and prints the URLs, the generated token and the curl lines', async () => {
      const first = start(env)
      running.push(first)
      const { port, banner } = await ready(first)
      for (const slug of ['acme', 'globex', 'initech']) assert.match(banner, new RegExp(`${slug}\\.localhost:${port}/api/projects`))
      assert.match(banner, /First start: created the demo tenants acme, globex, initech/)
      const printed = /Admin token \(generated now[^\n]*\n\s+(\S+)/.exec(banner)
      assert.ok(printed, banner)
      token = printed[1] as string
      assert.match(banner, /curl -s -X POST -H "Authorization: Bearer [^"]+" http:\/\/localhost:\d+\/admin\/api\/tenants\/acme\/api-keys/)

      assert.deepEqual(await call(port, '/healthz'), { status: 200, body: { ok: true } })
      const key = await call(port, '/admin/api/tenants/initech/api-keys', { method: 'POST', token })
      assert.equal(key.status, 201)
      const projects = await call(port, '/api/projects', { host: `initech.localhost:${port}`, token: key.body.key })
      assert.equal(projects.status, 200)
      assert.equal(projects.body.items.length, 1)
      projectId = projects.body.items[0].id

      // A second process on the same data folder is refused, and the first keeps serving.
      if (backend.name === 'pglite') {
        const second = start(env)
        assert.equal(await second.exited, 1)
        assert.match(second.output(), /in use by process/)
        assert.equal((await call(port, '/healthz')).status, 200)
      }
      assert.equal(await stop(first), 0)
    })

    it('a restart keeps the data and the admin token, and creates no demo tenants again', async () => {
      const again = start(env)
      running.push(again)
      const { port, banner } = await ready(again)
      assert.doesNotMatch(banner, /First start/)
      assert.doesNotMatch(banner, new RegExp(token))
      assert.match(banner, /the one generated on the first start/)
      const tenants = await call(port, '/admin/api/tenants', { token })
      assert.deepEqual(tenants.body.items.map((t: { slug: string }) => t.slug), ['acme', 'globex', 'initech'])
      const key = await call(port, '/admin/api/tenants/initech/api-keys', { method: 'POST', token })
      const project = await call(port, `/api/projects/${projectId}`, { host: `initech.localhost:${port}`, token: key.body.key })
      assert.equal(project.status, 200)
      assert.equal(project.body.name, 'TPS reports')

      // Another start on the port this one holds: one line that names PORT, no stack trace.
      if (backend.name === 'postgres') {
        const clash = start({ ...env, PORT: String(port) })
        assert.equal(await clash.exited, 1)
        const lines = clash.output().trim().split('\n').filter((l) => !/^\{/.test(l))
        assert.deepEqual(lines.length, 1, clash.output())
        assert.match(lines[0]!, new RegExp(`^The reference SaaS could not start: CONFLICT: PORT ${port} is already in use on 127\\.0\\.0\\.1: .*PORT=`))
      }
      assert.equal(await stop(again), 0)
    })
  })
}
