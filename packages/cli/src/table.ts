/**
 * A plain-text table for the terminal: a header row, then one row per item,
 * columns padded to their widest cell. Cells are single-line (newlines shown as ⏎).
 *
 * @example
 * io.out.write(formatTable(['slug', 'status'], [['acme', 'active']]))
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string): string => cell.replace(/\r?\n/g, '⏎')
  const all = [headers, ...rows].map((row) => row.map(clean))
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)))
  const line = (row: readonly string[]): string => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return `${all.map(line).join('\n')}\n`
}

/** `key: value` lines, keys aligned. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([k]) => k.length))
  return `${fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n')}\n`
}
