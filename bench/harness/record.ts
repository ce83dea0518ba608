import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BackendName } from './backend.ts'
import type { RunSettings } from './benchmark.ts'
import { verdict, type Figure } from './figures.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const resultsDir = join(root, 'bench', 'results')
export const benchmarksDoc = join(root, 'docs', 'benchmarks.md')

/** One finished run of one benchmark on one backend. */
export interface RunRecord {
  readonly name: string
  readonly at: string
  readonly backend: BackendName
  readonly serverVersion: string
  readonly settings: RunSettings
  readonly figures: readonly Figure[]
  readonly notes: readonly string[]
  readonly details?: { readonly summary: string; readonly markdown: string } | undefined
  /** 1-minute load average of the machine at the start and the end of the run. */
  readonly load: readonly [number, number]
}

/** The machine the run happened on, in one line. */
export function machineLine(): string {
  const cpus = os.cpus()
  const model = cpus[0]?.model.trim() ?? 'unknown CPU'
  const memory = Math.round(os.totalmem() / 2 ** 30)
  return `${model} × ${cpus.length} cores, ${memory} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
}

function cell(value: number | null): string {
  return value === null ? '' : String(value)
}

const COLUMNS = ['metric', 'value', 'unit', 'baseline', 'ratio', 'goal', 'result'] as const

function rows(figures: readonly Figure[]): string[][] {
  return figures.map((f) => [f.metric, cell(f.value), f.unit, cell(f.baseline), cell(f.ratio), f.goal === null ? '' : `≥ ${f.goal}`, verdict(f)])
}

/** The figures as an aligned plain-text table for the terminal. */
export function textTable(figures: readonly Figure[]): string {
  const body = rows(figures)
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i] as string).length)))
  const numeric = new Set([1, 3, 4])
  const line = (r: readonly string[]): string =>
    r.map((v, i) => (numeric.has(i) ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number))).join('  ').trimEnd()
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function markdownTable(figures: readonly Figure[]): string {
  const head = `| ${COLUMNS.join(' | ')} |`
  const rule = '|---|--:|---|--:|--:|--:|---|'
  const body = rows(figures).map((r) => `| ${r.map((v, i) => (i === 6 && v === 'FAIL' ? '**FAIL**' : v)).join(' | ')} |`)
  return [head, rule, ...body].join('\n')
}

/**
 * Writes `bench/results/<name>.json` in the shape of DESIGN §5 (the latest run),
 * and `bench/results/<name>.<backend>.json` (the latest run on that backend, so a
 * `--backend both` run keeps both).
 */
export async function writeResults(record: RunRecord): Promise<string[]> {
  const json = { name: record.name, at: record.at, backend: record.backend, figures: record.figures }
  const text = `${JSON.stringify(json, null, 2)}\n`
  await mkdir(resultsDir, { recursive: true })
  const files = [join(resultsDir, `${record.name}.json`), join(resultsDir, `${record.name}.${record.backend}.json`)]
  for (const file of files) await writeFile(file, text)
  return files
}

/** Appends the run as a dated section of docs/benchmarks.md. */
export async function appendToDoc(record: RunRecord): Promise<void> {
  const existing = await readFile(benchmarksDoc, 'utf8').catch(() => '')
  const s = record.settings
  const failed = record.figures.filter((f) => verdict(f) === 'FAIL').length
  const goals = record.figures.filter((f) => f.goal !== null).length
  const section = [
    `## ${record.name} · ${record.backend} · ${record.at.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Machine: ${machineLine()}`,
    `- Load average (1 min, ${os.cpus().length} cores): ${record.load[0].toFixed(1)} at start, ${record.load[1].toFixed(1)} at end`,
    `- Database: ${record.serverVersion}`,
    `- Settings: ${s.rounds} rounds × ${s.seconds} s per variant (warm-up ${s.warmupSeconds} s), ${s.concurrency} concurrent client${s.concurrency === 1 ? '' : 's'}; figures are medians over rounds`,
    `- Goals: ${goals - failed} of ${goals} met`,
    '',
    markdownTable(record.figures),
    '',
    ...record.notes.map((n) => `- ${n}`),
    '',
    ...(record.details ? ['<details>', `<summary>${record.details.summary}</summary>`, '', record.details.markdown, '', '</details>', ''] : []),
  ].join('\n')
  const separator = existing === '' || existing.endsWith('\n\n') ? '' : existing.endsWith('\n') ? '\n' : '\n\n'
  await appendFile(benchmarksDoc, `${separator}${section}`)
}
