/**
 * One measured figure, in the shape DESIGN §5 fixes for bench/results/<name>.json.
 * `ratio` compares with the baseline measured in the same run so that "higher is
 * better" always holds: value/baseline for throughput, baseline/value for latency
 * or cost. `goal` is a floor on `ratio`; null where the figure is for reference.
 */
export interface Figure {
  readonly metric: string
  readonly value: number
  readonly unit: string
  readonly baseline: number | null
  readonly ratio: number | null
  readonly goal: number | null
}

/** Whether more of a figure is better (throughput) or less is (latency, round trips). */
export type Direction = 'higher' | 'lower'

export interface FigureInput {
  readonly metric: string
  readonly value: number
  readonly unit: string
  readonly baseline?: number | null
  readonly better: Direction
  readonly goal?: number | null
  /** Decimal places kept in the record. */
  readonly digits?: number
  /**
   * The ratio when it is not value against baseline: a median of paired
   * ratios (each pair of blocks run side by side) says more on a noisy
   * machine than the ratio of the two medians.
   */
  readonly ratio?: number
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/**
 * A figure with its ratio worked out from the baseline.
 *
 * @example
 * figure({ metric: 'point_select_plugin', value: 9700, unit: 'ops/s', baseline: 10000, better: 'higher', goal: 0.97 })
 * // -> { ..., ratio: 0.97, goal: 0.97 }
 */
export function figure(input: FigureInput): Figure {
  const digits = input.digits ?? 1
  const baseline = input.baseline ?? null
  let ratio: number | null = null
  if (input.ratio !== undefined) ratio = Number.isFinite(input.ratio) ? round(input.ratio, 3) : null
  else if (baseline !== null && baseline > 0 && input.value > 0) {
    ratio = round(input.better === 'higher' ? input.value / baseline : baseline / input.value, 3)
  }
  return {
    metric: input.metric,
    value: round(input.value, digits),
    unit: input.unit,
    baseline: baseline === null ? null : round(baseline, digits),
    ratio,
    goal: input.goal ?? null,
  }
}

/** 'pass', 'FAIL' or '' (no goal). */
export function verdict(f: Figure): '' | 'pass' | 'FAIL' {
  if (f.goal === null) return ''
  return f.ratio !== null && f.ratio >= f.goal ? 'pass' : 'FAIL'
}
