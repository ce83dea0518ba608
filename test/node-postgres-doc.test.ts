/**
 * docs/node-postgres.md as a reader follows it: the example it shows is
 * examples/node-postgres/app.ts word for word, and running it prints exactly
 * the output the page shows (each tenant sees only its own rows; no tenant, no
 * query).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

describe('docs/node-postgres.md', () => {
  it('shows examples/node-postgres/app.ts verbatim, and the output it prints', async () => {
    const page = await readFile(join(root, 'docs/node-postgres.md'), 'utf8')
    const app = await readFile(join(root, 'examples/node-postgres/app.ts'), 'utf8')
    const shown = /^`examples\/node-postgres\/app\.ts`:\n\n```ts\n([\s\S]*?)^```$/m.exec(page)
    assert.ok(shown, 'the page shows the example file')
    assert.equal(shown[1], app)
    const output = /It prints:\n\n```\n([\s\S]*?)```/.exec(page)
    assert.ok(output, 'the page shows the output')
    const { stdout } = await run(process.execPath, ['--conditions=tenantry-source', '--import', 'tsx', 'examples/node-postgres/app.ts'], { cwd: root })
    assert.equal(stdout, output[1])
  })
})
