import { Command, CommanderError } from 'commander'
import { isTenantryError } from '@tenantry/core'
import { doctorCommand } from './commands/doctor.ts'
import { keysCommand } from './commands/keys.ts'
import { migrateCommand } from './commands/migrate.ts'
import { tenantsCommand } from './commands/tenants.ts'
import type { CliIo } from './io.ts'

/** The `tenantry` command line. */
export function createProgram(io: CliIo): Command {
  const program = new Command('tenantry')
    .enablePositionalOptions()
    .description('Tenantry: multi-tenancy for Node.js SaaS back ends')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
  program.addCommand(migrateCommand(io))
  program.addCommand(tenantsCommand(io))
  program.addCommand(keysCommand(io))
  program.addCommand(doctorCommand(io))
  const exitOverride = (command: Command): void => {
    command.exitOverride()
    for (const child of command.commands) exitOverride(child)
  }
  exitOverride(program)
  return program
}

/**
 * Runs the CLI on `argv` (without the node and script entries) and returns the
 * exit code: 0 done, 1 a target failed or an error, 2 bad usage.
 */
export async function runCli(argv: readonly string[], io: Omit<CliIo, 'exitCode'>): Promise<number> {
  let code = 0
  const program = createProgram({ ...io, exitCode: (c) => { code = Math.max(code, c) } })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return code
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2
    if (isTenantryError(error)) {
      io.err.write(`error ${error.code}: ${error.message}\n`)
      return error.code === 'VALIDATION_FAILED' ? 2 : 1
    }
    io.err.write(`error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    return 1
  }
}
