import { Command, InvalidArgumentError, Option } from 'commander'
import { TenantryError } from '@tenantry/core'
import type { MigrationRunSummary, MigrationScope, MigrationStatus } from '@tenantry/postgres'
import { withTenantry } from '../config.ts'
import { progressView } from '../progress.ts'
import type { CliIo } from '../io.ts'

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

function nonNegativeInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number')
  return n
}

interface ScopeFlags { tenant?: string; shared?: boolean; all?: boolean }

function scopeOf(flags: ScopeFlags): MigrationScope {
  const chosen = [flags.tenant !== undefined, flags.shared === true, flags.all === true].filter(Boolean).length
  if (chosen > 1) throw new TenantryError('VALIDATION_FAILED', 'Choose one of --all, --tenant <slug> and --shared')
  if (flags.tenant !== undefined) return { kind: 'tenant', slug: flags.tenant }
  if (flags.shared) return { kind: 'shared' }
  return { kind: 'all' }
}

/** Renders `migrate status` as a table: migration x applied / pending / failed, then failures. */
export function formatStatus(status: MigrationStatus): string {
  const lines: string[] = []
  const table = (title: string, rows: MigrationStatus['tenant']): void => {
    if (!rows.length) return
    const width = Math.max(9, ...rows.map((r) => r.id.length))
    lines.push(title)
    lines.push(`  ${'migration'.padEnd(width)}  ${'applied'.padStart(8)}  ${'pending'.padStart(8)}  ${'failed'.padStart(8)}`)
    for (const r of rows) lines.push(`  ${r.id.padEnd(width)}  ${String(r.applied).padStart(8)}  ${String(r.pending).padStart(8)}  ${String(r.failed).padStart(8)}`)
  }
  table('control plane (1 target)', status.control)
  table(`tenant set (${status.targets} target${status.targets === 1 ? '' : 's'}: shared tables, tenant schemas and databases)`, status.tenant)
  if (!status.tenant.length && !status.control.length) lines.push('no migrations')
  if (status.failures.length) {
    lines.push(`failed targets (${status.failures.length}):`)
    for (const f of status.failures) lines.push(`  ${f.label}  ${f.migration}  ${f.at.toISOString()}  ${f.error}`)
  } else lines.push('no failed targets')
  return lines.join('\n')
}

function report(io: CliIo, summary: MigrationRunSummary, json: boolean): void {
  if (json) io.out.write(`${JSON.stringify({
    ok: summary.ok, visited: summary.visited, migrated: summary.migrated, current: summary.current, skipped: summary.skipped,
    durationMs: Math.round(summary.durationMs),
    failed: summary.failed.map((f) => ({ target: f.target.key, label: f.target.label, migration: f.failedMigration, code: f.error?.code, error: f.error?.message })),
  })}\n`)
  if (!summary.ok) io.exitCode(1)
}

/** `tenantry migrate`, `tenantry migrate down`, `tenantry migrate status`. */
export function migrateCommand(io: CliIo): Command {
  const migrate = new Command('migrate')
    .enablePositionalOptions()
    .description('apply pending migrations: the control plane once, then the shared tables and every tenant schema and database')
    .option('-c, --config <file>', 'config module (default: ./tenantry.config.ts|.mjs|.js)')
    .option('--all', 'every target (default)')
    .option('--tenant <slug>', 'only this tenant (a shared-model tenant means the shared tables)')
    .option('--shared', 'only the shared tables')
    .option('--concurrency <n>', 'tenants migrated at once (default: from the connection budget)', positiveInt)
    .option('--canary <n>', 'migrate n tenants first; stop if any of them fails', nonNegativeInt)
    .option('--continue-on-error', 'finish the other tenants after a failure, and report every failure')
    .addOption(new Option('--wait [seconds]', 'wait for another runner to finish instead of exiting (up to the seconds given, or 24 h)').argParser(nonNegativeInt))
    .option('--plain', 'plain progress lines even on a terminal')
    .option('--progress-every <ms>', 'plain mode: a progress line at most this often (default 2000)', nonNegativeInt)
    .option('--json', 'print the summary as JSON')
    .action(async (flags: ScopeFlags & { config?: string; concurrency?: number; canary?: number; continueOnError?: boolean; wait?: number | true; plain?: boolean; progressEvery?: number; json?: boolean }) => {
      const scope = scopeOf(flags)
      await withTenantry(flags.config, 'migrate', async ({ migrator }) => {
        const view = progressView({ out: flags.json ? io.err : io.out, err: io.err, plain: flags.plain || flags.json, lineEveryMs: flags.progressEvery })
        const summary = await migrator.migrate({
          scope,
          concurrency: flags.concurrency,
          canary: flags.canary,
          continueOnError: flags.continueOnError,
          waitForLockMs: flags.wait === undefined ? 0 : flags.wait === true ? 24 * 3600_000 : flags.wait * 1000,
          onEvent: (e) => view.onEvent(e),
          signal: io.signal,
        })
        if (!flags.json) view.finish(summary)
        report(io, summary, flags.json === true)
      })
    })

  migrate.command('down')
    .description('roll back tenant migrations newer than --to, for one tenant (--tenant), the shared tables (--shared) or every target (--all)')
    .requiredOption('--to <id>', 'the last migration to keep; 0 rolls back everything')
    .option('-c, --config <file>', 'config module')
    .option('--all', 'every target')
    .option('--tenant <slug>', 'only this tenant (a schema or database tenant; shared tables need --shared)')
    .option('--shared', 'only the shared tables (every shared tenant\'s)')
    .option('--concurrency <n>', 'targets rolled back at once', positiveInt)
    .option('--continue-on-error', 'finish the other targets after a failure')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: ScopeFlags & { to: string; config?: string; concurrency?: number; continueOnError?: boolean; json?: boolean }) => {
      if (!flags.all && flags.tenant === undefined && !flags.shared) {
        throw new TenantryError('VALIDATION_FAILED', 'migrate down needs a scope: --tenant <slug>, --shared, or --all for every target')
      }
      const scope = scopeOf(flags)
      await withTenantry(flags.config ?? migrate.opts<{ config?: string }>().config, 'migrate', async ({ migrator }) => {
        const view = progressView({ out: flags.json ? io.err : io.out, err: io.err, plain: true, verb: 'roll back' })
        const summary = await migrator.down({
          to: flags.to === '0' ? null : flags.to, scope, concurrency: flags.concurrency, continueOnError: flags.continueOnError,
          onEvent: (e) => view.onEvent(e), signal: io.signal,
        })
        if (!flags.json) view.finish(summary)
        report(io, summary, flags.json === true)
      })
    })

  migrate.command('status')
    .description('a table of migration x applied / pending / failed counts, then the failed targets with their errors')
    .option('-c, --config <file>', 'config module')
    .option('--json', 'print the status as JSON')
    .action(async (flags: { config?: string; json?: boolean }) => {
      await withTenantry(flags.config ?? migrate.opts<{ config?: string }>().config, 'connect', async ({ migrator }) => {
        const status = await migrator.status()
        io.out.write(`${flags.json ? JSON.stringify(status) : formatStatus(status)}\n`)
        if (status.failures.length) io.exitCode(1)
      })
    })
  return migrate
}
