import { Command } from 'commander'
import { withTenantry } from '../config.ts'
import type { CliIo } from '../io.ts'
import { formatTable } from '../table.ts'
import { configOf, print, type OpsFlags } from './common.ts'

/** `tenantry doctor`: every model's checks; exit 1 when one is an error. */
export function doctorCommand(io: CliIo): Command {
  return new Command('doctor')
    .description('check the deployment: runtime roles, scope guard, RLS policies and what a tenant could reach; exits 1 on an error')
    .option('-c, --config <file>', 'config module (default: ./tenantry.config.ts|.mjs|.js)')
    .option('--json', 'print the report as JSON')
    .option('--fixes', 'print the fix of every finding under it')
    .action(async function (this: Command, flags: OpsFlags & { fixes?: boolean }) {
      await withTenantry(configOf(flags, this), 'connect', async (tenantry) => {
        const report = await tenantry.doctor()
        const errors = report.findings.filter((f) => f.severity === 'error').length
        const warnings = report.findings.length - errors
        print(io, flags, report, () => {
          const summary = `${report.ok ? 'ok' : 'REFUSED'}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`
          if (report.findings.length === 0) return summary
          const rows = report.findings.map((f) => [f.severity, f.model, f.check, f.table ?? '-', f.message])
          let text = formatTable(['severity', 'model', 'check', 'object', 'message'], rows)
          if (flags.fixes) {
            for (const f of report.findings) if (f.fix !== undefined) text += `\n-- ${f.check}${f.table === undefined ? '' : ` (${f.table})`}\n${f.fix}\n`
          }
          return `${text}${summary}`
        })
        if (!report.ok) io.exitCode(1)
      })
    })
}
