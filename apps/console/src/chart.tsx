/** One line of a chart: a name, a colour and a value per bucket (null: nothing to draw there). */
export interface Series {
  readonly name: string
  readonly color: string
  readonly values: readonly (number | null)[]
}

/**
 * A small SVG line chart, drawn by hand: one or more series over the live window's buckets; `data-total` sums the values (the browser test watches it).
 *
 * @example
 * <Chart testId="chart-throughput" title="Requests" unit="req" series={[{ name: 'requests', color: '#2b6cb0', values: [0, 3, 5] }]} />
 */
export function Chart({ title, unit, series, testId }: { title: string; unit: string; series: readonly Series[]; testId: string }) {
  const width = 320
  const height = 120
  const pad = 24
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)))
  const max = Math.max(1, ...all)
  const count = Math.max(2, ...series.map((s) => s.values.length))
  const x = (i: number) => pad + (i * (width - 2 * pad)) / (count - 1)
  const y = (v: number) => height - pad - (v / max) * (height - 2 * pad)
  const total = all.reduce((a, b) => a + b, 0)
  return (
    <figure className="chart" data-testid={testId} data-total={total}>
      <figcaption>
        {title} <span className="muted">(max {max.toFixed(max < 10 ? 1 : 0)} {unit})</span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} className="axis" />
        <line x1={pad} y1={pad} x2={pad} y2={height - pad} className="axis" />
        {series.map((s) => {
          const points = s.values.map((v, i) => (v === null || !Number.isFinite(v) ? null : ([x(i), y(v)] as const))).filter((p): p is readonly [number, number] => p !== null)
          return (
            <g key={s.name}>
              <polyline points={points.map(([px, py]) => `${px},${py}`).join(' ')} fill="none" stroke={s.color} strokeWidth={2} />
              {points.map(([px, py]) => <circle key={px} cx={px} cy={py} r={2.5} fill={s.color} />)}
            </g>
          )
        })}
      </svg>
      <div className="legend">
        {series.map((s) => (
          <span key={s.name} style={{ color: s.color }}>■ {s.name}</span>
        ))}
      </div>
    </figure>
  )
}
