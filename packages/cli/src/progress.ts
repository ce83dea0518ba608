import cliProgress from 'cli-progress'
import type { MigrationEvent, MigrationRunSummary } from '@tenantry/postgres'

/** Where progress goes: a live bar on a terminal, plain lines otherwise. */
export interface ProgressView {
  onEvent(event: MigrationEvent): void
  finish(summary: MigrationRunSummary): void
}

export interface ProgressOptions {
  readonly out: NodeJS.WritableStream & { isTTY?: boolean }
  readonly err: NodeJS.WritableStream
  /** Plain lines even on a terminal. */
  readonly plain?: boolean
  /** Plain mode: a line at most this often (ms), plus one per failure. */
  readonly lineEveryMs?: number
  /** What the run does to its targets, for the lines: `migrate` (default) or `roll back`. */
  readonly verb?: string
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * Shows a migration run: counts, rate and ETA (cli-progress on a TTY, a line
 * every few seconds elsewhere), every failure as it happens, and a summary.
 */
export function progressView(options: ProgressOptions): ProgressView {
  const tty = options.out.isTTY === true && options.plain !== true
  const lineEvery = options.lineEveryMs ?? 2000
  let total = 0
  let done = 0
  let failed = 0
  let startedAt = Date.now()
  let lastLine = 0
  let barStarted = false
  const bar = tty
    ? new cliProgress.SingleBar({
        format: ' {bar} {value}/{total} targets | {rate}/s | ETA {eta_formatted} | failed {failed}',
        stream: options.out,
        hideCursor: true,
        etaBuffer: 50,
      }, cliProgress.Presets.shades_classic)
    : undefined
  const rate = (): string => (done / Math.max(0.001, (Date.now() - startedAt) / 1000)).toFixed(1)
  const line = (text: string): void => { options.out.write(`${text}\n`) }
  return {
    onEvent(event) {
      if (event.type === 'waiting-for-lock') {
        options.err.write(`waiting for the fleet lock held by ${event.holder}\n`)
      } else if (event.type === 'plan') {
        if (total === 0) startedAt = Date.now()
        total += event.targets
        if (bar) {
          if (done === 0 && event.targets > 0 && !barStarted) { bar.start(total, 0, { failed, rate: rate() }); barStarted = true }
          else bar.setTotal(total)
        } else if (event.targets > 0) line(`${event.phase}: ${event.targets} target${event.targets === 1 ? '' : 's'} to ${options.verb ?? 'migrate'}`)
      } else {
        done++
        const { outcome } = event
        if (outcome.status === 'failed') {
          failed++
          const message = `FAILED ${outcome.target.label}${outcome.failedMigration ? ` at ${outcome.failedMigration}` : ''}: ${outcome.error?.message ?? 'unknown error'}`
          if (bar) options.err.write(`\n${message}\n`)
          else options.err.write(`${message}\n`)
        }
        if (bar) bar.update(done, { failed, rate: rate() })
        else if (Date.now() - lastLine >= lineEvery || done === total) {
          lastLine = Date.now()
          const left = total - done
          const eta = done > 0 ? ((Date.now() - startedAt) / done) * left : 0
          line(`${done}/${total} targets, ${failed} failed, ${rate()}/s, ETA ${seconds(eta)}`)
        }
      }
    },
    finish(summary) {
      if (bar && barStarted) bar.stop()
      const parts = [`${summary.migrated} migrated`, `${summary.current} already current`, `${summary.failed.length} failed`]
      if (summary.skipped) parts.push(`${summary.skipped} not started`)
      line(`${summary.ok ? 'done' : 'stopped'}: ${parts.join(', ')} in ${seconds(summary.durationMs)}`)
      if (summary.visited === 0 && summary.ok) line('nothing to do: every target is at the latest migration')
      for (const f of summary.failed) line(`  failed: ${f.target.label}${f.failedMigration ? ` at ${f.failedMigration}` : ''}: ${f.error?.message ?? ''}`)
    },
  }
}
