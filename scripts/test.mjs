#!/usr/bin/env node
// Runs every *.test.ts under packages/ and test/ with node's test runner (spec output),
// then prints "N passed, N failed, N skipped" alone on the last line.
import { spawn } from 'node:child_process'
import { readdirSync, statSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { tmpdir } from 'node:os'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) collect(path, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, path))
  }
  return out
}

const files = [...collect(join(root, 'packages'), []), ...collect(join(root, "test"), []), ...collect(join(root, "apps"), [])]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

const summaryDir = mkdtempSync(join(tmpdir(), 'tenantry-test-'))
const summaryFile = join(summaryDir, 'summary.txt')
const args = [
  '--conditions=tenantry-source', '--import', 'tsx', '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts/summary-reporter.mjs')}`, `--test-reporter-destination=${summaryFile}`,
  ...files,
]
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env })
child.on('exit', (code, signal) => {
  let summary = ''
  try { summary = readFileSync(summaryFile, 'utf8').trim() } catch { /* reporter wrote nothing */ }
  rmSync(summaryDir, { recursive: true, force: true })
  console.log(summary || `0 passed, 1 failed, 0 skipped`)
  process.exit(code ?? (signal ? 1 : 0))
})
