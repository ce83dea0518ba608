/**
 * The README as a new user follows it, from the repository root: `npm run
 * example`, every `npm run tenantry -- …` line of "The command line" (after
 * `npm start` has run once, as the README says), and every TypeScript snippet
 * type-checked (the one of "In your code" also runs from the packed packages:
 * test/packages.test.ts).
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

async function readme(): Promise<string> {
  return readFile(join(root, 'README.md'), 'utf8')
}

/** The fenced blocks of a language in one `## ` section (or the whole README). */
function blocks(text: string, lang: string, heading?: string): string[] {
  let part = text
  if (heading !== undefined) {
    const at = text.indexOf(`\n## ${heading}\n`)
    assert.ok(at >= 0, `README has "## ${heading}"`)
    const next = text.indexOf('\n## ', at + 4)
    part = text.slice(at, next < 0 ? undefined : next)
  }
  return [...part.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!)
}

function shell(line: string, env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c))
    child.stderr.on('data', (c: Buffer) => (err += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out, err })
    })
  })
}

describe('the README, followed from the repository root', { timeout: 10 * 60_000 }, () => {
  let dataDir: string
  let env: Record<string, string>

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tenantry-readme-'))
    // The README's commands as they are, on a data folder of this test's own (and any free port).
    env = { TENANTRY_DATA_DIR: dataDir, PORT: '0', DATABASE_URL: '', REDIS_URL: '' }
  })
  after(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it('lists `npm start`, `npm run example` and `npm test` in the quick start, and `npm run example` works', async () => {
    const quick = blocks(await readme(), 'sh', 'Quick start')[0]!
    for (const command of ['npm ci', 'npm start', 'npm run example', 'npm test']) assert.match(quick, new RegExp(`^${command}\\b`, 'm'))
    const example = await shell('npm run example', env)
    assert.equal(example.code, 0, example.err)
    assert.match(example.out, /acme sees: Giant magnet, Rocket skates/)
    assert.match(example.out, /query with no tenant: refused with TENANT_CONTEXT_MISSING/)
    assert.doesNotMatch(example.out, /unexpected/)
  })

  it('runs every line of "The command line" after `npm start` has run once', async () => {
    // npm start, until it says it is ready, then Ctrl-C.
    // Its own process group, so that Ctrl-C can be what a terminal sends: SIGINT to the whole group
    // (npm does not pass a SIGINT sent to npm alone on to the server).
    const start = spawn('bash', ['-c', 'exec npm start'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let banner = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not get ready: ${banner}`)), 120_000)
      start.stdout.on('data', (c: Buffer) => {
        banner += c
        if (/ready in/.test(banner)) {
          clearTimeout(timer)
          resolve()
        }
      })
      start.on('exit', (code) => reject(new Error(`npm start exited (${code}): ${banner}`)))
    })
    const stopped = new Promise((resolve) => start.on('exit', resolve))
    process.kill(-start.pid!, 'SIGINT')
    await stopped

    const lines = blocks(await readme(), 'sh', 'The command line')[0]!.split('\n').filter((l) => l.startsWith('npm run tenantry'))
    assert.ok(lines.length >= 8, 'the section shows the commands')
    const outputs = new Map<string, string>()
    for (const line of lines) {
      const result = await shell(line, env)
      assert.equal(result.code, 0, `${line}\n${result.out}\n${result.err}`)
      outputs.set(line.replace(/^npm run tenantry -- /, '').split(' ').slice(0, 2).join(' '), result.out)
    }
    assert.match(outputs.get('tenants list')!, /^acme\s+Acme Corp\s+active/m)
    assert.match(outputs.get('tenants list')!, /^initech\s+Initech\s+active\s+free\s+database/m)
    assert.match(outputs.get('keys create')!, /tnt_\S+/)
    assert.match(outputs.get('doctor')!, /^ok: 0 errors/m)
    assert.match(outputs.get('tenants delete')!, /deleted umbrella/)
  })

  it('type-checks every TypeScript snippet', async () => {
    const snippets = blocks(await readme(), 'ts')
    assert.ok(snippets.length >= 3)
    const dir = join(root, 'test', '.readme-snippets')
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    try {
      // What the snippets take from the surrounding text, declared; everything else they use must exist.
      const prelude = [
        "import type { Generated } from 'kysely'",
        "import type { TenantryConfig } from 'tenantry'",
        'interface Database { projects: { id: Generated<number>; name: string }; tasks: { id: Generated<number>; title: string } }',
        'declare const config: TenantryConfig',
        '',
      ].join('\n')
      const files: string[] = []
      for (const [i, snippet] of snippets.entries()) {
        const name = `snippet-${i}.mts`
        const uses = (word: string): boolean => new RegExp(`\\b${word}\\b`).test(snippet) && !new RegExp(`(interface|const|type) ${word}\\b`).test(snippet)
        const needs = (line: string): boolean => (/Database|Generated/.test(line) ? uses('Database') : /config|TenantryConfig/.test(line) ? uses('config') : true)
        files.push(name)
        await writeFile(join(dir, name), `${prelude.split('\n').filter(needs).join('\n')}\n${snippet}\nexport {}\n`)
      }
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
        extends: '../../tsconfig.json',
        compilerOptions: { noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', noUnusedLocals: false },
        include: ['*.mts'],
      }))
      await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: root }).catch((error: { stdout?: string; message: string }) => {
        assert.fail(`README snippets do not type-check:\n${error.stdout ?? error.message}\n${files.map((f, i) => `${f}:\n${snippets[i]}`).join('\n')}`)
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
