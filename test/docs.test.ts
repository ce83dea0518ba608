/**
 * docs/getting-started.md as a reader follows it:
 * (a) every file the page shows is examples/getting-started/ word for word, and
 *     every file there is shown;
 * (b) in a copy of that folder (embedded PGlite in the copy's ./.tenantry),
 *     `npx tsx app.ts` prints what the page says, each tenant seeing only its own
 *     rows, and runs again on the same data folder;
 * (c) the page's command line and curl session, run as written on a fresh copy,
 *     answer what the page says they answer;
 * (d) its CommonJS snippet is the app test/packages.test.ts compiles and runs, and
 *     its other TypeScript snippets type-check.
 * And docs/adopting.md: every file of examples/adopting is on the page word for
 * word, the line count it ends with is what `git diff --numstat` says, and its
 * other TypeScript type-checks.
 * The example's own files type-check with the repository (tsconfig.json includes
 * examples/). `npx tsx` and `npx tenantry` run the workspace's sources here
 * (`--conditions=tenantry-source`), as the page says to in a clone.
 */
import assert from 'node:assert/strict'
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cp, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const exampleDir = join(root, 'examples', 'getting-started')
const page = join(root, 'docs', 'getting-started.md')
const adoptingDir = join(root, 'examples', 'adopting')
const adoptingPage = join(root, 'docs', 'adopting.md')

/** The text of one `## ` section of a page. */
function section(text: string, heading: string): string {
  const at = text.indexOf(`\n## ${heading}\n`)
  assert.ok(at >= 0, `the page has "## ${heading}"`)
  const next = text.indexOf('\n## ', at + 4)
  return text.slice(at, next < 0 ? undefined : next)
}

/** Fenced blocks of a language. */
function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!)
}

/** The blocks the page presents as files: a line "`path`:", a blank line, then the block. */
function shownFiles(text: string): { path: string; body: string }[] {
  return [...text.matchAll(/^`([^`\n]+)`:\n\n```\w+\n([\s\S]*?)^```$/gm)].map((m) => ({ path: m[1]!, body: m[2]! }))
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await filesUnder(path)))
    else out.push(path)
  }
  return out
}

/** Every block a page presents as a file is that file of the example, and every file of the example is on the page. */
async function assertShowsExample(pagePath: string, dir: string, atLeast: number): Promise<void> {
  const shown = shownFiles(await readFile(pagePath, 'utf8'))
  assert.ok(shown.length >= atLeast, `${relative(root, pagePath)} shows the example's files`)
  for (const { path, body } of shown) {
    const file = await readFile(join(dir, path), 'utf8').catch(() => assert.fail(`the page shows ${path}, which ${relative(root, dir)} does not have`))
    assert.equal(body, file, `the page's ${path} differs from ${relative(root, dir)}/${path}`)
  }
  const files = (await filesUnder(dir)).map((f) => relative(dir, f).split('\\').join('/'))
  assert.deepEqual(files.filter((f) => !shown.some((s) => s.path === f)), [], `every file of ${relative(root, dir)} is on the page`)
}

/** Type-checks TypeScript snippets in a folder that sees the workspace's packages: `.cts` ones as CommonJS files. */
async function typecheckSnippets(dir: string, snippets: readonly { name: string; text: string }[]): Promise<void> {
  for (const { name, text } of snippets) {
    const uses = /\btenantry\./.test(text) && !/\bconst tenantry\b/.test(text)
    const prelude = uses ? "import type { Tenantry } from 'tenantry'\ndeclare const tenantry: Tenantry\n" : ''
    await writeFile(join(dir, name), `${prelude}${text}\nexport {}\n`)
  }
  await writeFile(join(dir, 'tsconfig.snippets.json'), JSON.stringify({
    extends: join(root, 'tsconfig.json'),
    // A CommonJS app's tsconfig has no verbatimModuleSyntax (with it, a .cts file may not `export const`).
    compilerOptions: { noEmit: true, noUnusedLocals: false, verbatimModuleSyntax: false },
    include: snippets.map((s) => s.name),
  }))
  await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.snippets.json'], { cwd: dir }).catch((error: { stdout?: string; message: string }) => {
    assert.fail(`snippets do not type-check:\n${error.stdout ?? error.message}\n${snippets.map((s) => `${s.name}:\n${s.text}`).join('\n')}`)
  })
}

/** The page's requests are curl lines (curl resolves *.localhost to the loopback address itself). */
const curl = spawnSync('curl', ['--version']).status === 0

const work: string[] = []
after(async () => {
  for (const dir of work) await rm(dir, { recursive: true, force: true })
})

/** A fresh copy of the example, as a reader's project folder: the workspace's node_modules, its own data folder. */
async function exampleCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantry-getting-started-'))
  work.push(dir)
  await cp(exampleDir, dir, { recursive: true, filter: (source) => !relative(exampleDir, source).split(/[\\/]/).some((part) => part.startsWith('.')) })
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir')
  // What `npm init -y && npm pkg set type=module` leaves (the dependencies are the workspace's).
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'my-saas', version: '1.0.0', type: 'module' }, null, 2)}\n`)
  return dir
}

/** `npx tsx` and `npx tenantry` as the page uses them, on the workspace's sources. */
const NPX = [
  'npx() {',
  '  case "$1" in',
  '    tsx) shift; exec "$NODE" --conditions=tenantry-source --import tsx "$@" ;;',
  '    tenantry) shift; exec "$NODE" --conditions=tenantry-source --import tsx "$ROOT/packages/cli/src/main.ts" "$@" ;;',
  '    *) echo "unexpected npx $1" >&2; return 127 ;;',
  '  esac',
  '}',
].join('\n')

/** The reader's shell: no server URLs (the embedded database), the page's npx. */
function readerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: '', REDIS_URL: '', NODE: process.execPath, ROOT: root, ...extra }
}

function shell(line: string, cwd: string, env: NodeJS.ProcessEnv = readerEnv()): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `${NPX}\n${line}`], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c))
    child.stderr.on('data', (c: Buffer) => (err += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 1, out, err })
    })
  })
}

describe('docs/getting-started.md', { timeout: 10 * 60_000 }, () => {
  it('(a) shows every file of examples/getting-started, each exactly as it is', async () => {
    await assertShowsExample(page, exampleDir, 6)
  })

  it('(b) runs app.ts on embedded PGlite: each tenant sees only its own rows, as the page prints; and again on the same folder', async () => {
    const expected = /`npx tsx app\.ts` prints:\n\n```text\n([\s\S]*?)```/.exec(await readFile(page, 'utf8'))?.[1]
    assert.ok(expected, 'the page shows what app.ts prints')
    const dir = await exampleCopy()
    for (const attempt of ['first run', 'second run, same data folder']) {
      const result = await shell('npx tsx app.ts', dir)
      assert.equal(result.code, 0, `${attempt}: ${result.out}\n${result.err}`)
      assert.equal(result.out, expected, attempt)
      assert.match(result.out, /^acme \(shared\) sees: Giant magnet, Rocket skates$/m)
      assert.match(result.out, /^globex \(schema\) sees: Doomsday device$/m)
      assert.doesNotMatch(result.out.split('\n').find((l) => l.startsWith('acme ('))!, /Doomsday/, "acme never sees globex's rows")
      assert.doesNotMatch(result.out.split('\n').find((l) => l.startsWith('globex ('))!, /Rocket|Giant/, "globex never sees acme's rows")
    }
  })

  it('(c) runs "Creating tenants" as written: the CLI, then server.ts, then each curl answers what the page says', { skip: !curl && 'curl is not installed' }, async () => {
    const part = section(await readFile(page, 'utf8'), '8. Creating tenants')
    const [commands, session] = blocks(part, 'sh')
    assert.ok(commands && session, 'the section has the commands and the curl session')
    const dir = await exampleCopy()
    const lines = commands.split('\n').filter((l) => l.trim() !== '')
    const serve = lines.pop()
    assert.equal(serve, 'npx tsx server.ts')
    let key = ''
    for (const line of lines) {
      assert.match(line, /^npx tenantry /)
      const result = await shell(line, dir)
      assert.equal(result.code, 0, `${line}\n${result.out}\n${result.err}`)
      if (/ keys create /.test(line)) key = result.out.trim()
    }
    assert.match(key, /^tnt_\S+$/, 'keys create prints the key alone')

    const server: ChildProcess = spawn('bash', ['-c', `${NPX}\n${serve}`], { cwd: dir, env: readerEnv({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise((resolve) => server.on('exit', resolve))
    try {
      let said = ''
      const port = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server.ts did not start: ${said}`)), 120_000)
        server.stdout!.on('data', (c: Buffer) => {
          said += c
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(said)
          if (match) {
            clearTimeout(timer)
            resolve(match[1]!)
          }
        })
        server.stderr!.on('data', (c: Buffer) => (said += c))
        server.on('exit', (code) => reject(new Error(`server.ts exited (${code}): ${said}`)))
      })
      const steps = session.split('\n')
      let checked = 0
      for (const [i, line] of steps.entries()) {
        if (!line.startsWith('curl ')) continue
        const answer = steps[i + 1] ?? ''
        assert.ok(answer.startsWith('# '), `the page shows what "${line}" answers`)
        const result = await shell(line.replaceAll(':3000/', `:${port}/`), dir, readerEnv({ KEY: key }))
        assert.equal(result.code, 0, `${line}\n${result.err}`)
        assert.equal(result.out, answer.slice(2), line)
        checked++
      }
      assert.ok(checked >= 4, 'the session has its curl lines')
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM')
      await exited
    }
  })

  it('(d) shows the CommonJS app test/packages.test.ts runs, and its other TypeScript type-checks', async () => {
    const text = await readFile(page, 'utf8')
    const files = new Set(shownFiles(text).map((f) => f.body))
    const snippets = blocks(text, 'ts').filter((b) => !files.has(b))
    const commonjs = blocks(section(text, 'CommonJS and NestJS'), 'ts')
    const packagesTest = await readFile(join(root, 'test', 'packages.test.ts'), 'utf8')
    assert.ok(packagesTest.includes(`\n${commonjs[0]!}`), "the CommonJS snippet is test/packages.test.ts's main.ts")

    const dir = await exampleCopy()
    // A snippet of the CommonJS section is a CommonJS file; the others are the example's ES modules.
    await typecheckSnippets(dir, snippets.map((text, i) => ({ name: `snippet-${i}.${commonjs.includes(text) ? 'cts' : 'mts'}`, text })))
  })
})

describe('docs/adopting.md', { timeout: 5 * 60_000 }, () => {
  it('shows every file of examples/adopting, each exactly as it is', async () => {
    await assertShowsExample(adoptingPage, adoptingDir, 8)
  })

  it('ends with the line count `git diff --numstat` gives for the app', async () => {
    const part = section(await readFile(adoptingPage, 'utf8'), 'What it cost')
    const commands = blocks(part, 'sh')[0]!.split('\n').filter((l) => l.startsWith('git diff'))
    assert.equal(commands.length, 2)
    let output = ''
    let added = 0
    let removed = 0
    for (const command of commands) {
      // git diff --no-index exits 1 when the files differ.
      const result = await shell(command, root)
      assert.equal(result.code, 1, `${command}\n${result.err}`)
      output += result.out
      for (const line of result.out.trim().split('\n')) {
        const [plus, minus] = line.split('\t')
        added += Number(plus)
        removed += Number(minus)
      }
    }
    assert.equal(blocks(part, 'text')[0], output, 'the page shows what git diff prints')
    assert.match(part, new RegExp(`\\*\\*${added} lines added and ${removed} removed\\*\\*`), 'the page states the totals')
    const before = (await readFile(join(adoptingDir, 'before/app.ts'), 'utf8')).split('\n').length - 1
    const types = (await readFile(join(adoptingDir, 'before/database.ts'), 'utf8')).split('\n').length - 1
    assert.match(part, new RegExp(`an app of ${before + types} lines of TypeScript \\(${before} \\+ ${types}\\)`))
  })

  it("type-checks the page's other TypeScript", async () => {
    const text = await readFile(adoptingPage, 'utf8')
    const files = new Set(shownFiles(text).map((f) => f.body))
    const snippets = blocks(text, 'ts').filter((b) => !files.has(b))
    assert.ok(snippets.length >= 1)
    const dir = await exampleCopy()
    await typecheckSnippets(dir, snippets.map((text, i) => ({ name: `adopting-${i}.mts`, text })))
  })
})
