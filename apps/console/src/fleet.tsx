import type { LivePoint } from './api.ts'
import { Chart } from './chart.tsx'
import { Link } from './router.tsx'
import { useApi } from './use-api.ts'

interface Row { id: string; applied: number; pending: number; failed: number }
interface FleetView {
  migrations: { targets: number; control: Row[]; tenant: Row[]; failures: { target: string; label: string; migration: string; error: string; at: string }[] }
  pool: Record<string, unknown> | null
  admission: { limiter?: Record<string, unknown>; bulkhead?: Record<string, unknown> } | null
}
interface LiveFleet { fleet: { requests: number; perSecond: number; errorRate: number; p99Ms: number } | null; series: LivePoint[]; top: { tenantId: string; slug: string | null; requests: number; perSecond: number; errorRate: number; p99Ms: number }[] }

/**
 * The fleet: migrations per migration (and the failed tenants), the pool router, the limiter and bulkhead, the busiest tenants.
 *
 * @example
 * {route === '/fleet' && <Fleet />}
 */
export function Fleet() {
  const fleet = useApi<FleetView>('/fleet', 5_000)
  const live = useApi<LiveFleet>('/live', 2_000)
  const f = fleet.data
  const series = live.data?.series ?? []
  return (
    <section>
      <h1>Fleet</h1>
      {fleet.error !== null && <p className="error" role="alert">{fleet.error}</p>}
      <div className="grid">
        <Chart testId="fleet-throughput" title="Fleet requests per bucket" unit="req" series={[{ name: 'requests', color: '#2b6cb0', values: series.map((p) => p.requests) }]} />
        <div className="card">
          <h2>Busiest tenants</h2>
          <table>
            <thead><tr><th>Tenant</th><th>Req/s</th><th>Errors</th><th>p99</th></tr></thead>
            <tbody>
              {(live.data?.top ?? []).map((t) => (
                <tr key={t.tenantId}><td>{t.slug === null ? t.tenantId : <Link to={`/tenants/${encodeURIComponent(t.slug)}`}>{t.slug}</Link>}</td><td className="num">{t.perSecond.toFixed(2)}</td><td className="num">{(t.errorRate * 100).toFixed(1)} %</td><td className="num">{Number.isFinite(t.p99Ms) ? t.p99Ms.toFixed(1) : '—'} ms</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      {f !== undefined && (
        <>
          <div className="card">
            <h2>Migrations <span className="muted">({f.migrations.targets} tenant targets)</span></h2>
            <table data-testid="fleet-migrations">
              <thead><tr><th>Set</th><th>Migration</th><th>Applied</th><th>Pending</th><th>Failed</th></tr></thead>
              <tbody>
                {f.migrations.control.map((r) => <tr key={`c-${r.id}`}><td>control</td><td><code>{r.id}</code></td><td className="num">{r.applied}</td><td className="num">{r.pending}</td><td className="num">{r.failed}</td></tr>)}
                {f.migrations.tenant.map((r) => <tr key={`t-${r.id}`}><td>tenant</td><td><code>{r.id}</code></td><td className="num">{r.applied}</td><td className="num">{r.pending}</td><td className={r.failed > 0 ? 'num error' : 'num'}>{r.failed}</td></tr>)}
              </tbody>
            </table>
            {f.migrations.failures.length > 0 && (
              <ul>{f.migrations.failures.map((x) => <li key={`${x.target}-${x.migration}`} className="error">{x.label}: {x.migration} — {x.error}</li>)}</ul>
            )}
          </div>
          <div className="grid">
            <Stats title="Pool router" value={f.pool} testId="pool" />
            <Stats title="Rate limiter" value={f.admission?.limiter ?? null} testId="limiter" />
            <Stats title="Bulkhead" value={f.admission?.bulkhead ?? null} testId="bulkhead" />
          </div>
        </>
      )}
    </section>
  )
}

function Stats({ title, value, testId }: { title: string; value: Record<string, unknown> | null; testId: string }) {
  return (
    <div className="card" data-testid={testId}>
      <h2>{title}</h2>
      {value === null ? <p className="muted">Not configured</p> : (
        <dl>{Object.entries(value).filter(([, v]) => typeof v !== 'object').map(([k, v]) => <FragmentRow key={k} name={k} value={String(v)} />)}</dl>
      )}
    </div>
  )
}

function FragmentRow({ name, value }: { name: string; value: string }) {
  return <><dt>{name}</dt><dd>{value}</dd></>
}
