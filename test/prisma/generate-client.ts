/**
 * Generates the Prisma client of test/prisma/schema.prisma with nothing but the
 * npm packages (`prisma`, `@prisma/client`): no engine download, no update check.
 * The client goes to test/prisma/.generated/<hash>/client (git-ignored), one
 * folder per schema and Prisma version, so a second call costs a stat. It lives
 * under the repository so that its `@prisma/client/runtime/*` imports resolve to
 * the root node_modules.
 *
 * @example
 * const { PrismaClient } = await import(await generatePrismaClient())
 * const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const require = createRequire(import.meta.url)
const here = fileURLToPath(new URL('.', import.meta.url))

/** The fixture schema: the shared-model `projects` and `tasks`. */
export const PRISMA_SCHEMA_PATH = join(here, 'schema.prisma')
const GENERATED_DIR = join(here, '.generated')
/** Raise when the way the client is generated changes, so cached clients are not reused. */
const GENERATION_REVISION = 1

/**
 * The environment `prisma generate` needs to run from npm packages alone:
 * - `PRISMA_SCHEMA_ENGINE_BINARY`: without it every CLI command (even `--help`)
 *   first fetches the schema engine from binaries.prisma.sh. generate only checks
 *   that the file exists; it never runs it.
 * - `CHECKPOINT_DISABLE`: otherwise the CLI spawns a detached child that asks
 *   checkpoint.prisma.io whether a newer Prisma exists.
 */
export const OFFLINE_GENERATE_ENV: Readonly<Record<string, string>> = Object.freeze({
  PRISMA_SCHEMA_ENGINE_BINARY: join(here, 'no-schema-engine.txt'),
  CHECKPOINT_DISABLE: '1',
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
})

function versionOf(pkg: string): string {
  return (require(`${pkg}/package.json`) as { version: string }).version
}

/** The schema with its generator's `output` set to `output` (relative to the schema). */
function withOutput(schema: string, output: string): string {
  const pattern = /^(\s*output\s*=\s*)"[^"\n]*"/gm
  const found = schema.match(pattern)?.length ?? 0
  if (found !== 1) throw new Error(`${PRISMA_SCHEMA_PATH} must have exactly one generator output line, found ${found}`)
  return schema.replace(pattern, `$1${JSON.stringify(output)}`)
}

async function runPrismaGenerate(cwd: string): Promise<void> {
  const cli = require.resolve('prisma/build/index.js')
  try {
    await run(process.execPath, [cli, 'generate', '--schema', 'schema.prisma'], {
      cwd,
      env: { ...process.env, ...OFFLINE_GENERATE_ENV },
      timeout: 120_000,
    })
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string }
    throw new Error(`prisma generate failed (exit ${failed.code ?? '?'}):\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}`)
  }
}

/**
 * Generates the fixture's Prisma client unless this schema's client is already
 * there, and returns the path of its entry module (`client.ts`; load it with
 * `import()` under tsx). Safe to call from test files running in parallel: each
 * generates into a staging folder and renames it into place, and the one that
 * loses the race uses the winner's.
 */
export async function generatePrismaClient(): Promise<string> {
  const schema = await readFile(PRISMA_SCHEMA_PATH, 'utf8')
  const key = createHash('sha256')
    .update(JSON.stringify([GENERATION_REVISION, versionOf('prisma'), versionOf('@prisma/client'), schema]))
    .digest('hex')
    .slice(0, 16)
  const target = join(GENERATED_DIR, key)
  const entry = join(target, 'client', 'client.ts')
  if (existsSync(entry)) return entry

  const staging = join(GENERATED_DIR, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`)
  await mkdir(staging, { recursive: true })
  try {
    // Prisma looks for prisma.config.ts in its working directory only; the staging
    // folder has none, so the CLI's defaults apply (no datasource URL is needed).
    await writeFile(join(staging, 'schema.prisma'), withOutput(schema, './client'))
    await runPrismaGenerate(staging)
    try {
      await rename(staging, target)
    } catch (error) {
      if (!existsSync(entry)) throw error
    }
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
  return entry
}
