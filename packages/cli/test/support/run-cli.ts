/** Runs the `tenantry` CLI as its own process, the way a user runs it, from source. */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../..', import.meta.url))
const main = join(root, 'packages/cli/src/main.ts')

export interface Run { code: number | null; signal: NodeJS.Signals | null; out: string; err: string }

/** Starts `tenantry <args>` as its own process, the way a user runs it. */
export function runTenantry(args: readonly string[], env: Record<string, string>, cwd = root): { child: ChildProcess; done: Promise<Run>; lines: AsyncIterable<string> } {
  const child = spawn(process.execPath, ['--conditions=tenantry-source', '--import', 'tsx', main, ...args], {
    cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  const waiters: ((line: string) => void)[] = []
  const queue: string[] = []
  let partial = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk
    partial += chunk
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) {
      const waiter = waiters.shift()
      if (waiter) waiter(line)
      else queue.push(line)
    }
  })
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk })
  const done = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, err })))
  const lines: AsyncIterable<string> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift() ?? (await Promise.race([
          new Promise<string>((resolve) => waiters.push(resolve)),
          done.then(() => undefined),
        ]))
        if (next === undefined) return
        yield next
      }
    },
  }
  return { child, done, lines }
}

