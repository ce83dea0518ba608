#!/usr/bin/env node
// The `tenantry` executable: the first Ctrl-C stops starting new targets, a second one exits.
import { runCli } from './program.ts'

const controller = new AbortController()
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130)
  process.stderr.write('\nstopping: no new targets start; running ones finish (Ctrl-C again to exit now)\n')
  controller.abort()
})
const code = await runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, signal: controller.signal })
process.exitCode = code
