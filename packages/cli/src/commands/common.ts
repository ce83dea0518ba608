import { userInfo } from 'node:os'
import type { Command } from 'commander'
import type { CliIo } from '../io.ts'

/** Flags every ops command takes. */
export interface OpsFlags {
  readonly config?: string
  readonly json?: boolean
  readonly actor?: string
}

/** Adds `--config`, `--json` and (for changes) `--actor`. */
export function opsOptions(command: Command, changes: boolean): Command {
  command.option('-c, --config <file>', 'config module (default: ./tenantry.config.ts|.mjs|.js)').option('--json', 'print JSON instead of a table')
  if (changes) command.option('--actor <name>', 'who the audit trail records (default: cli:<your user name>)')
  return command
}

/** The config flag given on the command or on its parent (`tenantry tenants -c x list`). */
export function configOf(flags: OpsFlags, command: Command): string | undefined {
  return flags.config ?? command.parent?.opts<{ config?: string }>().config
}

/** Who a change made from the CLI is attributed to. */
export function actorOf(flags: OpsFlags): string {
  if (flags.actor !== undefined) return flags.actor
  try {
    return `cli:${userInfo().username}`
  } catch {
    return 'cli'
  }
}

/** One JSON document per line, or the human text. */
export function print(io: CliIo, flags: OpsFlags, json: unknown, text: () => string): void {
  io.out.write(flags.json ? `${JSON.stringify(json)}\n` : text())
}

/** A date as the tables show it (UTC, to the second). */
export function when(date: Date | undefined | null): string {
  return date ? `${date.toISOString().slice(0, 19).replace('T', ' ')}Z` : '-'
}
