import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'

const root = fileURLToPath(new URL('../../../', import.meta.url))

describe('express: types', () => {
  // The package's devDependency is @types/express 4; an Express 5 user compiles the adapter
  // (and its .d.ts) against @types/express 5, so both must accept it.
  it('type-checks against @types/express 5', async () => {
    await promisify(execFile)(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'packages/express/tsconfig.express5.json'], { cwd: root })
      .catch((error: { stdout?: string; message: string }) => assert.fail(`the adapter does not type-check against @types/express 5:\n${error.stdout ?? error.message}`))
  })
})
