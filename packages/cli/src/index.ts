/**
 * tenantry: the command line (`tenantry migrate`, `migrate down`, `migrate status`)
 * and `defineConfig` for its config module.
 */
export { defineConfig, loadConfig, type TenantryConfig, type TenantryConfigExport } from './config.ts'
export { createProgram, runCli } from './program.ts'
export { formatStatus } from './commands/migrate.ts'
export { progressView, type ProgressOptions, type ProgressView } from './progress.ts'
export type { CliIo } from './io.ts'
