/**
 * The published packages as a user gets them: every public package is built
 * and packed (`npm pack`), and the tarballs are installed into fresh apps
 * outside the workspace (compiled output, no `tenantry-source` condition, no
 * workspace links). There:
 * (a) the README's "In your code" snippet runs verbatim on embedded PGlite, with
 *     the app's own kysely of another 0.28 patch, installed once (no second copy);
 * (b) a PostgreSQL-only app (no PGlite installed) type-checks with
 *     `skipLibCheck: false` under node16, nodenext and bundler resolution, and
 *     asking it for an embedded database says which package to install;
 * (c) a CommonJS app (NestJS's default tsconfig, and `module: node16`) loads the
 *     ESM packages, on this Node and on the oldest Node the engines allow;
 * (d) each tarball carries its README, LICENSE, types and only what it should;
 * (e) a NestJS app compiled with NestJS's default tsconfig (CommonJS, decorators)
 *     serves two tenants through TenantryModule on embedded PGlite;
 * (f) an ESM app on embedded PGlite runs @tenantry/drizzle and @tenantry/prisma
 *     (its Prisma 7 client generated offline in the app) for two tenants: each
 *     sees only its own rows, Prisma's same-tick findUnique batching does not
 *     leak one tenant's row to another, and the app type-checks.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { OFFLINE_GENERATE_ENV } from './prisma/generate-client.ts'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const PUBLIC = ['core', 'kysely', 'postgres', 'drizzle', 'prisma', 'redis', 'bullmq', 'pg-boss', 'observability', 'fastify', 'express', 'hono', 'nestjs', 'cli'] as const
/** A kysely the app picks itself: another patch of 0.28 than the one the workspace locks. */
const APP_KYSELY = '0.28.8'
/** The oldest Node the packages' engines allow. */
const OLDEST_NODE = '20.0.0'
/**
 * The exception: @tenantry/nestjs. NestJS apps compile to CommonJS (`require()`), and
 * NestJS 12 itself is ESM loaded through require(esm), which Node has unflagged since
 * 20.19: an import() fallback (what lets the other packages go down to 20.0) cannot
 * help a Nest app, so the package says what it needs.
 */
const ENGINES_EXCEPTIONS: Readonly<Record<string, string>> = { '@tenantry/nestjs': '20.19.0', '@tenantry/prisma': '20.19.0' }
/** NestJS and the parts of it the NestJS app installs from the registry. */
const NEST_PACKAGES = ['@nestjs/common@12', '@nestjs/core@12', '@nestjs/platform-express@12', 'reflect-metadata@0.2', 'rxjs@7'] as const

async function sh(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, [...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })
    return stdout + stderr
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

/** The files docs/nestjs.md shows under "## A complete app" (a line "`name`:", a blank line, the block), exactly as shown. */
async function nestjsDocFiles(): Promise<Record<string, string>> {
  const page = await readFile(join(root, 'docs', 'nestjs.md'), 'utf8')
  const at = page.indexOf('\n## A complete app\n')
  assert.ok(at >= 0, 'docs/nestjs.md has a "## A complete app" section')
  const next = page.indexOf('\n## ', at + 4)
  const section = page.slice(at, next < 0 ? undefined : next)
  return Object.fromEntries([...section.matchAll(/^`([^`\n]+)`:\n\n```ts\n([\s\S]*?)^```$/gm)].map((m) => [m[1]!, m[2]!]))
}

/** The first ```ts block after the heading, exactly as the README has it. */
export async function readmeSnippet(heading: string): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const at = readme.indexOf(`\n## ${heading}\n`)
  assert.ok(at >= 0, `README has a "## ${heading}" section`)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(match, `the "${heading}" section has a ts block`)
  return match[1]!
}

describe('the packed packages, installed into fresh apps', { timeout: 20 * 60_000 }, () => {
  let work: string
  const tarballs = new Map<string, string>()

  /** An app in its own folder: package.json, then the tarballs (as file: dependencies) and `extra` from the registry. */
  async function app(name: string, packageJson: Record<string, unknown>, packages: readonly string[], extra: readonly string[]): Promise<string> {
    const dir = join(work, name)
    await mkdir(dir, { recursive: true })
    const local = Object.fromEntries([...tarballs].filter(([pkg]) => packages.includes(pkg)).map(([pkg, file]) => [pkg, `file:${file}`]))
    // overrides: the packages' dependencies on each other resolve to these tarballs too, never to the registry.
    const overrides = Object.fromEntries([...tarballs].map(([pkg, file]) => [pkg, `file:${file}`]))
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...packageJson, dependencies: local, overrides }, null, 2))
    await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...extra], dir)
    return dir
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tenantry-packages-'))
    await sh('npm', ['run', '-s', 'build'], root)
    const packs = join(work, 'tarballs')
    await mkdir(packs)
    const out = await sh('npm', ['pack', '--json', '--pack-destination', packs, ...PUBLIC.map((p) => `--workspace=packages/${p}`)], root)
    const listed = JSON.parse(out.slice(out.indexOf('['))) as { name: string; filename: string }[]
    for (const entry of listed) tarballs.set(entry.name, join(packs, entry.filename))
    assert.equal(tarballs.size, PUBLIC.length)
  })

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('packs README, LICENSE, types and compiled code into every tarball, and no tests', async () => {
    for (const [name, file] of tarballs) {
      const listing = (await sh('tar', ['-tzf', file], work)).split('\n').filter(Boolean)
      for (const needed of ['package/README.md', 'package/LICENSE', 'package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts']) {
        assert.ok(listing.includes(needed), `${name} lacks ${needed}`)
      }
      assert.ok(!listing.some((f) => /\.test\.ts$|\/test\//.test(f)), `${name} ships tests`)
      const manifest = JSON.parse(await sh('tar', ['-xzOf', file, 'package/package.json'], work)) as Record<string, any>
      for (const field of ['description', 'repository', 'engines', 'license', 'types', 'exports']) assert.ok(manifest[field], `${name} has ${field}`)
      assert.equal(manifest.engines.node, `>=${ENGINES_EXCEPTIONS[name] ?? OLDEST_NODE}`, `${name}'s engines`)
    }
    const cli = await sh('tar', ['-tzf', tarballs.get('tenantry')!], work)
    assert.match(cli, /package\/bin\/tenantry\.mjs/)
  })

  it("(a) runs the README's snippet verbatim on embedded PGlite, with the app's own kysely, one copy of it", async () => {
    const dir = await app('embedded-app', { type: 'module' }, ['tenantry', '@tenantry/core', '@tenantry/kysely', '@tenantry/postgres'],
      [`kysely@${APP_KYSELY}`, 'pg', '@electric-sql/pglite', 'tsx'])
    await writeFile(join(dir, 'app.mts'), await readmeSnippet('In your code'))
    const output = await sh('npx', ['tsx', 'app.mts'], dir)
    assert.match(output, /Launch/)
    const kyselys = JSON.parse(await sh('npm', ['ls', 'kysely', '--all', '--json'], dir)) as Record<string, any>
    const versions = new Set<string>()
    const walk = (node: Record<string, any>): void => {
      for (const [name, child] of Object.entries<Record<string, any>>(node.dependencies ?? {})) {
        if (name === 'kysely') versions.add(child.version)
        walk(child)
      }
    }
    walk(kyselys)
    assert.deepEqual([...versions], [APP_KYSELY], 'one kysely, the app\'s')
  })

  it('(b) type-checks a PostgreSQL-only app with skipLibCheck: false under node16, nodenext and bundler; no PGlite anywhere', async () => {
    const dir = await app('postgres-app', { type: 'module' },
      ['tenantry', '@tenantry/core', '@tenantry/kysely', '@tenantry/postgres', '@tenantry/fastify', '@tenantry/observability'],
      [`kysely@${APP_KYSELY}`, 'pg', 'fastify', 'prom-client@15', '@opentelemetry/api@1', 'pino@9', 'typescript@5', '@types/node@20'])
    await assert.rejects(readdir(join(dir, 'node_modules/@electric-sql')), 'PGlite is not installed with the packages')
    await writeFile(join(dir, 'app.ts'), `
import Fastify from 'fastify'
import type { Generated, Kysely } from 'kysely'
import { createTenantry, runWithTenant, isTenantryError, type Tenantry } from 'tenantry'
import { tenantryFastify } from '@tenantry/fastify'
import { currentTenant } from '@tenantry/core'
import { TenantCatalog, type PostgresTarget } from '@tenantry/postgres'
import { TenantMetrics, TenantTracing, createTenantLogger } from '@tenantry/observability'
import { combineObservers } from '@tenantry/core'

interface Database { projects: { id: Generated<number>; name: string } }

export async function main(url: string | undefined): Promise<string> {
  if (url === undefined) {
    // No PGlite here: asking for the embedded database says what to install.
    try {
      await createTenantry({ database: { embedded: 'memory' }, models: { shared: { tables: ['projects'] } } })
      return 'unexpected: embedded started'
    } catch (error) {
      return isTenantryError(error, 'VALIDATION_FAILED') ? error.message : String(error)
    }
  }
  const tenantry: Tenantry<Database> = await createTenantry<Database>({ database: url, models: { schema: true } })
  const db: Kysely<Database> = tenantry.db
  const target: PostgresTarget = tenantry.target
  const catalog: TenantCatalog = tenantry.catalog
  const metrics = new TenantMetrics({ topTenants: 10 })
  const tracing = new TenantTracing()
  const logger = createTenantLogger({ level: 'silent' })
  const app = Fastify()
  await app.register(tenantryFastify, { ...tenantry.http, exclude: ['/healthz', '/metrics'], observer: combineObservers(metrics.observer(), tracing.observer()) })
  app.get('/api/me', async () => {
    logger.info('me')
    return { tenant: currentTenant().slug }
  })
  app.get('/metrics', async () => metrics.text())
  await runWithTenant({ id: '00000000-0000-4000-8000-000000000000', slug: 'x', status: 'active', isolation: 'schema' }, async () => void db)
  await app.close()
  await tenantry.close()
  return [typeof target.pool.query, typeof catalog.list].join()
}
`)
    const configs = {
      node16: { module: 'node16', moduleResolution: 'node16' },
      nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
      bundler: { module: 'esnext', moduleResolution: 'bundler' },
    }
    for (const [label, options] of Object.entries(configs)) {
      await writeFile(join(dir, `tsconfig.${label}.json`), JSON.stringify({
        compilerOptions: { ...options, target: 'es2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
        files: ['app.ts'],
      }))
      await sh('npx', ['tsc', '-p', `tsconfig.${label}.json`], dir).catch((error: Error) => assert.fail(`${label}: ${error.message}`))
      // And the newest TypeScript, as a new project gets it.
      await sh('npx', ['-y', '-p', 'typescript@latest', 'tsc', '-p', `tsconfig.${label}.json`], dir).catch((error: Error) => assert.fail(`${label}, typescript@latest: ${error.message}`))
    }
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] }, files: ['app.ts'] }))
    await sh('npx', ['tsc', '-p', 'tsconfig.json'], dir)
    const message = await sh(process.execPath, ['--input-type=module', '-e', "const { main } = await import('./out/app.js'); console.log(await main(undefined))"], dir)
    assert.match(message, /needs PGlite: npm install @electric-sql\/pglite/)
  })

  /** The CommonJS app of (c) and (e), installed once: the ESM packages, NestJS, TypeScript 5. */
  let commonjs: Promise<string> | undefined
  const commonjsApp = (): Promise<string> => (commonjs ??= app('commonjs-app', {},
    ['tenantry', '@tenantry/core', '@tenantry/kysely', '@tenantry/postgres', '@tenantry/nestjs'],
    [`kysely@${APP_KYSELY}`, 'pg', '@electric-sql/pglite', 'typescript@5', '@types/node@20', ...NEST_PACKAGES]))

  it('(c) a CommonJS app loads the ESM packages: NestJS\'s default tsconfig on this Node, module node16 on the oldest Node the engines allow', async () => {
    const dir = await commonjsApp()
    await writeFile(join(dir, 'main.ts'), `
async function bootstrap(): Promise<void> {
  const { createTenantry, runWithTenant } = await import('tenantry')
  const tenantry = await createTenantry({
    database: { embedded: 'memory' },
    models: { shared: { tables: ['notes'] } },
    migrations: { tenant: [{ id: '0001', up: 'create table notes (tenant_id uuid not null, id int generated always as identity, body text, primary key (tenant_id, id))' }] },
  })
  const acme = await tenantry.tenants.create({ slug: 'acme', name: 'Acme' })
  await runWithTenant(acme, () => tenantry.db.insertInto('notes').values({ body: 'from commonjs' }).execute())
  const rows = await runWithTenant(acme, () => tenantry.db.selectFrom('notes').select('body').execute())
  console.log(JSON.stringify(rows))
  await tenantry.close()
}
bootstrap().catch((error) => { console.error(error); process.exit(1) })
`)
    // NestJS's default (TypeScript 5): module commonjs, node10 resolution (reads the types fallback); import() becomes require().
    await writeFile(join(dir, 'tsconfig.nest.json'), JSON.stringify({
      compilerOptions: { module: 'commonjs', moduleResolution: 'node', target: 'es2021', strict: true, skipLibCheck: false, esModuleInterop: true, outDir: 'nest', types: ['node'] },
      files: ['main.ts'],
    }))
    await writeFile(join(dir, 'tsconfig.node16.json'), JSON.stringify({
      compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', strict: true, skipLibCheck: false, outDir: 'node16', types: ['node'] },
      files: ['main.ts'],
    }))
    await sh('npx', ['tsc', '-p', 'tsconfig.nest.json'], dir)
    await sh('npx', ['tsc', '-p', 'tsconfig.node16.json'], dir)
    assert.match(await readFile(join(dir, 'nest/main.js'), 'utf8'), /require\(['"]tenantry['"]\)/, 'the NestJS build requires the ESM package')
    assert.match(await readFile(join(dir, 'node16/main.js'), 'utf8'), /import\(['"]tenantry['"]\)/, 'the node16 build keeps import()')
    // This Node (20.19+ loads ESM with require()).
    assert.match(await sh(process.execPath, ['nest/main.js'], dir), /from commonjs/)
    assert.match(await sh(process.execPath, ['node16/main.js'], dir), /from commonjs/)
    // The oldest Node the engines name, which has no require() of ESM: import() works there.
    assert.match(await sh('npx', ['-y', `node@${OLDEST_NODE}`, 'node16/main.js'], dir), /from commonjs/)
  })

  it('(e) docs/nestjs.md\'s app, built with NestJS\'s default tsconfig, serves two tenants through TenantryModule, each seeing only its own rows', async () => {
    const dir = await commonjsApp()
    const shown = await nestjsDocFiles()
    assert.deepEqual(Object.keys(shown).sort(), ['app.module.ts', 'main.ts'])
    for (const [name, text] of Object.entries(shown)) await writeFile(join(dir, name), text)
    // Drives the page's AppModule over HTTP, then shuts it down (closeOnShutdown closes Tenantry, so the process ends).
    await writeFile(join(dir, 'e2e.ts'), `
import { NestFactory } from '@nestjs/core'
import { TENANTRY } from '@tenantry/nestjs'
import type { Tenantry } from 'tenantry'
import { AppModule } from './app.module'

async function run(): Promise<void> {
  delete process.env.DATABASE_URL
  setTimeout(() => { console.error('the app did not close'); process.exit(2) }, 60_000).unref()
  const app = await NestFactory.create(AppModule, { logger: false })
  const tenantry = app.get<Tenantry>(TENANTRY)
  const keys: Record<string, string> = {}
  for (const slug of ['acme', 'globex']) {
    await tenantry.tenants.create({ slug, name: slug })
    keys[slug] = (await tenantry.tenants.createApiKey(slug)).key
  }
  await app.listen(0, '127.0.0.1')
  const base = await app.getUrl()
  const as = (slug: string, path: string, body?: unknown) => fetch(base + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'x-tenant-id': slug, authorization: 'Bearer ' + (keys[slug] ?? 'none'), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }))
  const added = [await as('acme', '/api/notes', { body: 'acme note' }), await as('globex', '/api/notes', { body: 'globex note' })]
  const invalid = await as('acme', '/api/notes', {})
  const answers = { added, invalid, acme: await as('acme', '/api/notes'), globex: await as('globex', '/api/notes'), unknown: await as('nobody', '/api/notes'), health: await as('nobody', '/healthz') }
  await app.close()
  console.log(JSON.stringify(answers))
}
run().catch((error) => { console.error(error); process.exit(1) })
`)
    // NestJS's default tsconfig: CommonJS, node10 resolution, legacy decorators with their metadata.
    await writeFile(join(dir, 'tsconfig.nest-app.json'), JSON.stringify({
      compilerOptions: {
        module: 'commonjs', moduleResolution: 'node', target: 'es2021', declaration: true, removeComments: true, emitDecoratorMetadata: true,
        experimentalDecorators: true, allowSyntheticDefaultImports: true, strict: true, skipLibCheck: true, outDir: 'nest-app', types: ['node'],
      },
      files: ['app.module.ts', 'main.ts', 'e2e.ts'],
    }))
    await sh('npx', ['tsc', '-p', 'tsconfig.nest-app.json'], dir)
    const compiled = await readFile(join(dir, 'nest-app/app.module.js'), 'utf8')
    assert.match(compiled, /require\(["']@tenantry\/nestjs["']\)/, 'the NestJS build requires the ESM package')
    assert.match(compiled, /__metadata\("design:paramtypes", \[NotesService\]\)/, 'with decorator metadata')
    const output = await sh(process.execPath, ['nest-app/e2e.js'], dir)
    const answers = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, any>
    assert.deepEqual(answers.added.map((a: { status: number }) => a.status), [201, 201])
    assert.equal(answers.invalid.status, 400)
    assert.equal(answers.invalid.body.error.code, 'VALIDATION_FAILED')
    for (const slug of ['acme', 'globex']) {
      const { status, body } = answers[slug]
      assert.equal(status, 200, JSON.stringify(answers[slug]))
      assert.deepEqual({ tenant: body.tenant, notes: body.notes.map((n: { body: string }) => n.body), count: body.count }, { tenant: slug, notes: [`${slug} note`], count: 1 })
    }
    assert.equal(answers.unknown.status, 404)
    assert.deepEqual(Object.keys(answers.unknown.body.error), ['code', 'message'])
    assert.equal(answers.unknown.body.error.code, 'TENANT_NOT_FOUND')
    assert.match(answers.unknown.body.error.message, /nobody/)
    assert.deepEqual(answers.health, { status: 200, body: { ok: true } })
  })

  it('(f) @tenantry/drizzle and @tenantry/prisma from their tarballs: two tenants on embedded PGlite, each sees only its own rows, Prisma\'s same-tick batching included', async () => {
    const drizzleRange = (JSON.parse(await readFile(join(root, 'packages/drizzle/package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['drizzle-orm']
    assert.ok(drizzleRange, 'packages/drizzle has drizzle-orm in its devDependencies')
    const dir = await app('orm-app', { type: 'module' },
      ['tenantry', '@tenantry/core', '@tenantry/kysely', '@tenantry/postgres', '@tenantry/drizzle', '@tenantry/prisma'],
      [`kysely@${APP_KYSELY}`, 'pg', '@electric-sql/pglite', `drizzle-orm@${drizzleRange}`, '@prisma/client@7', '@prisma/adapter-pg@7', 'prisma@7', 'tsx', 'typescript@5', '@types/node@20'])

    // Prisma 7 as test/prisma has it (docs/prisma.md): the `prisma-client` generator with an output, no datasource url
    // (P1012 in Prisma 7; the client gets its connection from the adapter), CLI settings in prisma.config.ts.
    await writeFile(join(dir, 'schema.prisma'), `
generator client {
  provider     = "prisma-client"
  output       = "./generated/prisma"
  moduleFormat = "esm"
  runtime      = "nodejs"
}

datasource db {
  provider = "postgresql"
}

model Project {
  tenantId String @default(dbgenerated("tenantry_guard.tenant()")) @map("tenant_id") @db.Uuid
  id       Int    @default(autoincrement())
  name     String

  @@id([tenantId, id])
  @@map("projects")
}
`)
    await writeFile(join(dir, 'prisma.config.ts'), `import { defineConfig } from 'prisma/config'

export default defineConfig({ schema: './schema.prisma' })
`)
    // Offline: PRISMA_SCHEMA_ENGINE_BINARY names a file that only has to exist (else the CLI downloads the schema
    // engine from binaries.prisma.sh), CHECKPOINT_DISABLE stops the update check. See test/prisma/generate-client.ts.
    assert.match(await sh('npx', ['prisma', 'generate'], dir, { ...OFFLINE_GENERATE_ENV }), /Generated Prisma Client \(7\./)

    await writeFile(join(dir, 'app.mts'), `
import { createTenantry, runWithTenant, isTenantryError } from 'tenantry'
import { tenantId, tenantryDrizzle } from '@tenantry/drizzle'
import { fromPrismaError, tenantryPrisma } from '@tenantry/prisma'
import { integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core'
import { PrismaClient } from './generated/prisma/client.ts'

const projects = pgTable('projects', {
  tenantId: tenantId(),
  id: integer('id').generatedAlwaysAsIdentity(),
  name: text('name').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })])

const tenantry = await createTenantry({
  database: { embedded: 'memory' },
  models: { shared: { tables: ['projects'] } },
  migrations: { tenant: [{ id: '0001_projects', up: 'create table projects (tenant_id uuid not null, id int generated always as identity, name text not null, primary key (tenant_id, id))' }] },
})
const acme = await tenantry.tenants.create({ slug: 'acme', name: 'Acme' })
const hooli = await tenantry.tenants.create({ slug: 'hooli', name: 'Hooli' })

// Drizzle: inserts leave tenantId out, the database fills in the tenant in scope.
const db = tenantryDrizzle(tenantry)
for (const tenant of [acme, hooli]) await runWithTenant(tenant, () => db.insert(projects).values({ name: 'drizzle ' + tenant.slug }))
const drizzleAcme = await runWithTenant(acme, () => db.select().from(projects))
const drizzleHooli = await runWithTenant(hooli, () => db.select().from(projects))

// Prisma: creates leave tenantId out. Then, in one tick, acme reads its row and hooli asks for acme's key:
// Prisma's dataloader would send both in one statement in acme's scope; tenantryPrisma keeps each in its own.
const prisma = tenantryPrisma(tenantry, (adapter) => new PrismaClient({ adapter }))
const a = await runWithTenant(acme, () => prisma.project.create({ data: { name: 'prisma acme' } }))
const b = await runWithTenant(hooli, () => prisma.project.create({ data: { name: 'prisma hooli' } }))
const acmesKey = { where: { tenantId_id: { tenantId: a.tenantId, id: a.id } } }
const [acmeOwn, hooliAsksForAcmes] = await Promise.all([
  runWithTenant(acme, () => prisma.project.findUnique(acmesKey)),
  runWithTenant(hooli, () => prisma.project.findUnique(acmesKey)),
])
// Both ORMs wrote the same table under the same walls.
const hooliAll = await runWithTenant(hooli, () => prisma.project.findMany({ orderBy: { id: 'asc' } }))
// Outside any tenant scope nothing runs; fromPrismaError gives back the TenantryError Prisma hides.
let outside: { name: string; code: unknown; tenantryError: boolean } | undefined
try {
  await prisma.project.findMany()
} catch (error) {
  const mapped = fromPrismaError(error)
  outside = { name: (error as Error).name, code: (mapped as { code?: unknown }).code, tenantryError: isTenantryError(mapped, 'TENANT_CONTEXT_MISSING') }
}

console.log(JSON.stringify({
  tenants: { acme: acme.id, hooli: hooli.id },
  drizzle: { acme: drizzleAcme.map((row) => [row.tenantId, row.name]), hooli: drizzleHooli.map((row) => [row.tenantId, row.name]) },
  prisma: {
    created: [[a.tenantId, a.name], [b.tenantId, b.name]],
    acmeOwn: acmeOwn?.name ?? null,
    hooliAsksForAcmes: hooliAsksForAcmes?.name ?? null,
    hooliAll: hooliAll.map((row) => row.name),
    outside: outside ?? 'ran',
  },
}))
await prisma.$disconnect()
await tenantry.close()

/** Never called: tsc shows both clients are typed (not any) by rejecting these. */
export function typed(): void {
  // @ts-expect-error nam is no field of Project
  void prisma.project.create({ data: { nam: 'x' } })
  // @ts-expect-error name is required
  void db.insert(projects).values({})
}
`)
    const output = await sh('npx', ['tsx', 'app.mts'], dir)
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, any>
    const { acme, hooli } = result.tenants as { acme: string; hooli: string }
    assert.notEqual(acme, hooli)
    assert.deepEqual(result.drizzle, { acme: [[acme, 'drizzle acme']], hooli: [[hooli, 'drizzle hooli']] }, output)
    assert.deepEqual(result.prisma.created, [[acme, 'prisma acme'], [hooli, 'prisma hooli']], output)
    assert.equal(result.prisma.acmeOwn, 'prisma acme', output)
    assert.equal(result.prisma.hooliAsksForAcmes, null, `hooli's findUnique of acme's key, in the same tick as acme's, gets acme's row: ${output}`)
    assert.deepEqual(result.prisma.hooliAll, ['drizzle hooli', 'prisma hooli'], output)
    assert.deepEqual(result.prisma.outside, { name: 'PrismaClientKnownRequestError', code: 'TENANT_CONTEXT_MISSING', tenantryError: true }, output)

    // Type-checked with skipLibCheck: false, so Tenantry's, Prisma's and pg's declarations are checked too. The generated
    // client's files carry Prisma's own `// @ts-nocheck`, and drizzle-orm's declarations fail skipLibCheck: false on their
    // own (the mysql, singlestore, sqlite and gel dialects it ships, with or without Tenantry), so errors there are allowed
    // and every other error fails the test.
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, noEmit: true,
        allowImportingTsExtensions: true, types: ['node'],
      },
      files: ['app.mts'],
    }))
    const typeErrors = await sh('npx', ['tsc', '-p', 'tsconfig.json'], dir).then(() => '', (error: Error) => error.message)
    const diagnostics = typeErrors.split('\n').filter((line) => /error TS\d+:/.test(line))
    assert.ok(typeErrors === '' || diagnostics.length > 0, `tsc failed without diagnostics: ${typeErrors}`)
    assert.deepEqual(diagnostics.filter((line) => !line.startsWith('node_modules/drizzle-orm/')), [], typeErrors)
  })
})
